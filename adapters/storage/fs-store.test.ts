// The file store on a real temp directory: round trips, atomic replacement, listing without temp
// files, names that would escape the root, leftovers of a crashed writer, and file hashing.

import { afterEach, beforeEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FsStore, StoreNameError, sha256File } from "./fs-store.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "fs-store-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

test("write then read returns the same bytes and text; missing names read as undefined", async () => {
  const store = await FsStore.open(dir);
  expect(await store.read("absent")).toBeUndefined();
  expect(await store.readJson("absent.json")).toBeUndefined();
  await store.write("a.bin", new Uint8Array([1, 2, 3]));
  expect([...(await store.read("a.bin"))!]).toEqual([1, 2, 3]);
  await store.write("b.txt", "héllo");
  expect(await store.readText("b.txt")).toBe("héllo");
  expect(readFileSync(join(dir, "b.txt"), "utf8")).toBe("héllo");
});

test("writeJson replaces the whole file and leaves no temp file behind", async () => {
  const store = await FsStore.open(dir);
  await store.writeJson("index.json", { v: 1, long: "x".repeat(10_000) });
  await store.writeJson("index.json", { v: 2 });
  expect(await store.readJson("index.json")).toEqual({ v: 2 });
  expect(readFileSync(join(dir, "index.json"), "utf8")).toBe('{\n  "v": 2\n}\n');
  expect(readdirSync(dir)).toEqual(["index.json"]);
});

test("concurrent writes to one name end with one complete version", async () => {
  const store = await FsStore.open(dir);
  const docs = Array.from({ length: 20 }, (_, i) => ({ i, pad: "p".repeat(50_000 + i) }));
  await Promise.all(docs.map((d) => store.writeJson("race.json", d)));
  const got = await store.readJson<{ i: number; pad: string }>("race.json");
  expect(got).toEqual(docs[got!.i]!);
  expect(readdirSync(dir)).toEqual(["race.json"]);
});

test("list is sorted, filters by suffix and hides temp files; delete reports existence", async () => {
  const store = await FsStore.open(dir);
  await store.write("b.json", "{}");
  await store.write("a.json", "{}");
  await store.write("c.txt", "x");
  writeFileSync(join(dir, ".a.json.tmp-1-1"), "partial");
  expect(await store.list()).toEqual(["a.json", "b.json", "c.txt"]);
  expect(await store.list(".json")).toEqual(["a.json", "b.json"]);
  expect(await store.has("a.json")).toBe(true);
  expect(await store.delete("a.json")).toBe(true);
  expect(await store.delete("a.json")).toBe(false);
  expect(await store.has("a.json")).toBe(false);
});

test("opening a store removes temp files a crashed writer left and keeps real files", async () => {
  writeFileSync(join(dir, ".index.json.tmp-99-3"), "torn");
  writeFileSync(join(dir, "index.json"), '{"ok":true}');
  const store = await FsStore.open(dir);
  expect(readdirSync(dir)).toEqual(["index.json"]);
  expect(await store.readJson("index.json")).toEqual({ ok: true });
});

test("names that could leave the root are refused", async () => {
  const store = await FsStore.open(dir);
  for (const bad of ["../x", "a/b", "..", ".hidden", "", "a\\b", "x".repeat(201)]) {
    expect(() => store.pathOf(bad)).toThrow(StoreNameError);
    await expect(store.write(bad, "x")).rejects.toThrow(StoreNameError);
  }
  expect(existsSync(join(dir, "..", "x"))).toBe(false);
});

test("malformed JSON is an error naming the file, not undefined", async () => {
  writeFileSync(join(dir, "bad.json"), "{nope");
  const store = await FsStore.open(dir);
  await expect(store.readJson("bad.json")).rejects.toThrow(/bad\.json is not valid JSON/);
});

test("open creates a missing root, nested", async () => {
  const root = join(dir, "deep", "er");
  const store = await FsStore.open(root);
  await store.write("f", "1");
  expect(readFileSync(join(root, "f"), "utf8")).toBe("1");
});

test("sha256File streams a file to its lowercase hex digest; a missing file rejects", async () => {
  const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => i % 251);
  const path = join(dir, "model.bin");
  writeFileSync(path, data);
  expect(await sha256File(path)).toBe(createHash("sha256").update(data).digest("hex"));
  await expect(sha256File(join(dir, "none"))).rejects.toMatchObject({ code: "ENOENT" });
});
