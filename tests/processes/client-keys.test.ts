// `bun run control` with named client keys: a bad keys file refuses the start (exit 2) without
// printing any key; SIGHUP re-reads the file, so a removed key is refused without a restart.

import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnService, type Service } from "../harness/process.ts";

const ALICE = "alice-key-0123456789abcdef";
const BOB = "bob-key-0123456789abcdef";
const services: Service[] = [];
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "llorch-keys-proc-"));
});
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function control(args: string[], env: Record<string, string> = {}): Service {
  const s = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0", ...args], env);
  services.push(s);
  return s;
}

test("a keys file with a short key refuses the start with its path, never the keys", async () => {
  const file = join(dir, "keys.yaml");
  writeFileSync(file, `keys:\n  - name: alice\n    key: ${ALICE}\n  - name: bob\n    key: tooshort\n`);
  const s = control(["--api-keys-file", file]);
  expect(await s.exited).toBe(2);
  const refused = s.lines.find((l) => l.event === "startup_refused");
  expect(refused?.msg).toContain(`${file}: invalid client keys`);
  expect(refused?.msg).toContain("keys.1.key: a key needs at least 16 characters");
  const all = JSON.stringify(s.lines);
  expect(all).not.toContain(ALICE);
  expect(all).not.toContain("tooshort");
});

test("SIGHUP re-reads the keys file: a removed key is refused, the others keep working", async () => {
  const file = join(dir, "keys.json");
  writeFileSync(file, JSON.stringify({ keys: [{ name: "alice", key: ALICE }, { name: "bob", key: BOB }] }));
  const s = control([], { LLORCH_API_KEYS_FILE: file });
  const listening = await s.waitFor((l) => l.event === "listening", "listening");
  expect(listening.auth).toBe("keys");
  const base = String(listening.url).replace(/\/$/, "");
  const status = async (key?: string) => (await fetch(`${base}/v2/meta/capabilities`, { headers: key ? { authorization: `bearer ${key}` } : {} })).status;
  expect(await status(BOB)).toBe(200);
  expect(await status()).toBe(401);

  writeFileSync(file, JSON.stringify({ keys: [{ name: "alice", key: ALICE }] }));
  s.proc.kill("SIGHUP");
  await s.waitFor((l) => l.event === "client_keys_reloaded" && l.reason === "SIGHUP", "keys reloaded");
  expect(await status(BOB)).toBe(401);
  expect(await status(ALICE)).toBe(200);
  expect(JSON.stringify(s.lines)).not.toContain(BOB);
}, 30_000);
