// Catalog verify's file hashing: only regular files under the roots, within size and time limits.
// A path outside the roots answers the same whether or not it exists.

import { afterEach, beforeEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashConfinedFile, type HashLimits } from "./confined-hash.ts";

let dir: string;
let root: string;
let limits: HashLimits;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "confined-hash-"));
  root = join(dir, "models");
  mkdirSync(root);
  limits = { roots: [root], maxBytes: 1024, timeoutMs: 10_000 };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const hex = (data: string) => createHash("sha256").update(data).digest("hex");

test("a regular file under a root is hashed", async () => {
  writeFileSync(join(root, "m.gguf"), "weights");
  expect(await hashConfinedFile(join(root, "m.gguf"), limits)).toEqual({ ok: true, hex: hex("weights"), bytes: 7 });
  writeFileSync(join(root, "empty.gguf"), "");
  expect(await hashConfinedFile(join(root, "empty.gguf"), limits)).toEqual({ ok: true, hex: hex(""), bytes: 0 });
});

test("outside the roots: /etc/shadow, a missing file and a ../ escape get one and the same refusal", async () => {
  const refusal = (path: string) => ({ ok: false as const, reason: "outside_roots" as const, detail: `${path} is not under a configured catalog root` });
  writeFileSync(join(dir, "secret"), "s");
  for (const path of ["/etc/shadow", "/etc/does-not-exist", join(dir, "secret"), join(root, "..", "secret")]) {
    expect(await hashConfinedFile(path, limits)).toEqual(refusal(path));
  }
});

test("a symlink under a root that points outside is refused", async () => {
  writeFileSync(join(dir, "secret"), "s");
  symlinkSync(join(dir, "secret"), join(root, "link.gguf"));
  expect(await hashConfinedFile(join(root, "link.gguf"), limits)).toMatchObject({ ok: false, reason: "outside_roots" });
});

test("/dev/zero is refused at once, as not a regular file, even with /dev as a root", async () => {
  expect(await hashConfinedFile("/dev/zero", { ...limits, roots: ["/dev"] })).toEqual({ ok: false, reason: "not_regular_file", detail: "/dev/zero is not a regular file" });
  expect(await hashConfinedFile("/dev/zero", limits)).toMatchObject({ ok: false, reason: "outside_roots" });
});

test("a file over the size limit is refused without reading it; a missing file under a root is file_missing", async () => {
  writeFileSync(join(root, "big.gguf"), "x".repeat(2048));
  expect(await hashConfinedFile(join(root, "big.gguf"), limits)).toEqual({ ok: false, reason: "too_large", detail: `${join(root, "big.gguf")} has 2048 bytes, over the limit of 1024` });
  expect(await hashConfinedFile(join(root, "nope.gguf"), limits)).toMatchObject({ ok: false, reason: "file_missing" });
});

test("hashing that outlasts the time limit is cut off", async () => {
  writeFileSync(join(root, "m.gguf"), "x".repeat(1024));
  expect(await hashConfinedFile(join(root, "m.gguf"), { ...limits, timeoutMs: 0 })).toMatchObject({ ok: false, reason: "timed_out" });
});
