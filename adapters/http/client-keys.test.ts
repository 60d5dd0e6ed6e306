// Named client keys: the file and variable formats (refused with errors that never echo a key),
// lookup by name, per-key limits, and revocation without a restart: the file is re-stat'ed at most
// once per second of the injected clock, and re-read when it changed or on reload() (SIGHUP).

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, SimClock } from "../../runtime/index.ts";
import { ClientKeys, ClientKeysError, KEYS_RECHECK_MS, parseKeysEnv, parseKeysFile } from "./client-keys.ts";

const ALICE = "alice-key-0123456789abcdef";
const BOB = "bob-key-0123456789abcdef";
const CAROL = "carol-key-0123456789abcdef";

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ClientKeysError);
    expect((error as Error).name).toBe("ConfigError"); // the entry points exit 2 on it
    return (error as Error).message;
  }
  throw new Error("expected a refusal");
}

describe("parseKeysFile", () => {
  test("reads YAML and JSON, with optional limits per key", () => {
    const yaml = `keys:\n  - name: alice\n    key: ${ALICE}\n    rps: 2\n    tpm: 1000\n  - name: bob\n    key: "${BOB}"\n`;
    expect(parseKeysFile(yaml, "keys.yaml")).toEqual([
      { name: "alice", key: ALICE, rps: 2, tpm: 1000 },
      { name: "bob", key: BOB },
    ]);
    expect(parseKeysFile(JSON.stringify({ keys: [{ name: "a.b_c-1", key: ALICE }] }), "keys.json")).toEqual([{ name: "a.b_c-1", key: ALICE }]);
    expect(parseKeysFile("keys: []", "keys.yaml")).toEqual([]);
  });

  const bad: [string, string, RegExp][] = [
    ["a short key", `keys: [{name: a, key: "short-key"}]`, /keys\.0\.key: a key needs at least 16 characters/],
    ["a key with a space", `keys: [{name: a, key: "has a space in it!!"}]`, /keys\.0\.key: a key is printable ASCII/],
    ["a bad name", `keys: [{name: "a b", key: "${ALICE}"}]`, /keys\.0\.name: key names are/],
    ["an unknown field", `keys: [{name: a, key: "${ALICE}", admin: true}]`, /keys\.0: .*admin/],
    ["a negative limit", `keys: [{name: a, key: "${ALICE}", rps: -1}]`, /keys\.0\.rps/],
    ["a duplicate name", `keys: [{name: a, key: "${ALICE}"}, {name: a, key: "${BOB}"}]`, /keys\.1\.name: duplicate key name 'a'/],
    ["a duplicate key", `keys: [{name: a, key: "${ALICE}"}, {name: b, key: "${ALICE}"}]`, /keys\.1\.key: the same key as an earlier entry/],
    ["no keys list", `users: []`, /invalid client keys file/],
    ["not YAML", `keys: [unclosed`, /not valid YAML\/JSON/],
  ];
  for (const [what, text, message] of bad) {
    test(`refuses ${what}, without echoing any key`, () => {
      const msg = refusal(() => parseKeysFile(text, "keys.yaml"));
      expect(msg).toMatch(message);
      expect(msg).toStartWith("keys.yaml: ");
      for (const k of [ALICE, BOB, "short-key", "has a space in it!!"]) expect(msg).not.toContain(k);
    });
  }

  test("refuses a key equal to LLORCH_API_TOKEN", () => {
    expect(refusal(() => parseKeysFile(`keys: [{name: a, key: "${ALICE}"}]`, "k", ALICE))).toContain("the same as LLORCH_API_TOKEN");
  });
});

describe("parseKeysEnv", () => {
  test("reads name:key pairs separated by commas; a key may contain ':'", () => {
    expect(parseKeysEnv(`alice:${ALICE}, bob:${BOB}:x ,`)).toEqual([
      { name: "alice", key: ALICE },
      { name: "bob", key: `${BOB}:x` },
    ]);
  });

  test("refuses entries without a name, short keys and duplicates", () => {
    expect(refusal(() => parseKeysEnv(ALICE))).toContain("LLORCH_API_KEYS: entry 1 is not name:key");
    expect(refusal(() => parseKeysEnv(`:${ALICE}`))).toContain("entry 1 is not name:key");
    expect(refusal(() => parseKeysEnv("a:short"))).toContain("at least 16 characters");
    expect(refusal(() => parseKeysEnv(`a:${ALICE},a:${BOB}`))).toContain("duplicate key name 'a'");
  });
});

describe("ClientKeys", () => {
  let dir: string;
  let file: string;
  let clock: SimClock;
  let lines: any[];
  const log = () => createLogger({ clock, sink: (l) => lines.push(JSON.parse(l)), level: "debug" });
  const write = (entries: { name: string; key: string; rps?: number }[]) => writeFileSync(file, JSON.stringify({ keys: entries }));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "llorch-keys-"));
    file = join(dir, "keys.json");
    clock = new SimClock(1_000_000);
    lines = [];
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("is off (undefined) when neither a file nor the variable is configured", () => {
    expect(ClientKeys.load({ clock, log: log() })).toBeUndefined();
  });

  test("looks keys up by value and answers their name and limits", () => {
    write([{ name: "alice", key: ALICE, rps: 3 }]);
    const keys = ClientKeys.load({ file, env: `bob:${BOB}`, clock, log: log() })!;
    expect(keys.lookup(ALICE)).toEqual({ name: "alice" });
    expect(keys.lookup(BOB)).toEqual({ name: "bob" });
    expect(keys.lookup(CAROL)).toBeUndefined();
    expect(keys.limitsFor("key:alice")).toEqual({ rps: 3, tpm: undefined });
    expect(keys.limitsFor("key:bob")).toEqual({ rps: undefined, tpm: undefined });
    expect(keys.limitsFor("key:nobody")).toBeUndefined();
    expect(keys.limitsFor("token:abcdef")).toBeUndefined();
    expect(keys.names().sort()).toEqual(["alice", "bob"]);
  });

  test("a bad file or variable refuses the start", () => {
    writeFileSync(file, `keys: [{name: a, key: short}]`);
    expect(refusal(() => ClientKeys.load({ file, clock, log: log() }))).toContain("at least 16 characters");
    expect(refusal(() => ClientKeys.load({ file: join(dir, "missing.json"), clock, log: log() }))).toContain("cannot read the client keys file: ENOENT");
    expect(refusal(() => ClientKeys.load({ env: "nokey", clock, log: log() }))).toContain("not name:key");
    write([{ name: "alice", key: ALICE }]);
    expect(refusal(() => ClientKeys.load({ file, env: `other:${ALICE}`, clock, log: log() }))).toContain("the same key as one in LLORCH_API_KEYS");
  });

  test("a key removed from the file stops working within a second, without a restart", async () => {
    write([{ name: "alice", key: ALICE }, { name: "bob", key: BOB }]);
    const keys = ClientKeys.load({ file, clock, log: log() })!;
    expect(keys.lookup(BOB)).toEqual({ name: "bob" });

    write([{ name: "alice", key: ALICE }, { name: "carol", key: CAROL }]);
    // Not re-stat'ed within the recheck interval...
    await clock.advance(KEYS_RECHECK_MS - 1);
    expect(keys.lookup(BOB)).toEqual({ name: "bob" });
    // ...but on the first use after it.
    await clock.advance(1);
    expect(keys.lookup(BOB)).toBeUndefined();
    expect(keys.lookup(CAROL)).toEqual({ name: "carol" });
    expect(keys.lookup(ALICE)).toEqual({ name: "alice" });
    expect(lines.find((l) => l.event === "client_keys_reloaded")).toMatchObject({ reason: "changed", keys: ["alice", "carol"] });
    expect(JSON.stringify(lines)).not.toContain(CAROL);
  });

  test("reload() (SIGHUP) re-reads at once", () => {
    write([{ name: "alice", key: ALICE }]);
    const keys = ClientKeys.load({ file, clock, log: log() })!;
    write([{ name: "bob", key: BOB }]);
    keys.reload();
    expect(keys.lookup(ALICE)).toBeUndefined();
    expect(keys.lookup(BOB)).toEqual({ name: "bob" });
  });

  test("a file made invalid or deleted revokes its keys until fixed; keys from the variable stay", async () => {
    write([{ name: "alice", key: ALICE }]);
    const keys = ClientKeys.load({ file, env: `bob:${BOB}`, clock, log: log() })!;
    writeFileSync(file, `keys: [{name: alice, key: "${ALICE}", typo: 1}]`);
    await clock.advance(KEYS_RECHECK_MS);
    expect(keys.lookup(ALICE)).toBeUndefined();
    expect(keys.lookup(BOB)).toEqual({ name: "bob" });
    const refused = lines.find((l) => l.event === "client_keys_refused");
    expect(refused?.level).toBe("error");
    expect(JSON.stringify(lines)).not.toContain(ALICE);

    write([{ name: "alice", key: ALICE }]);
    await clock.advance(KEYS_RECHECK_MS);
    expect(keys.lookup(ALICE)).toEqual({ name: "alice" });

    unlinkSync(file);
    await clock.advance(KEYS_RECHECK_MS);
    expect(keys.lookup(ALICE)).toBeUndefined();
    expect(keys.lookup(BOB)).toEqual({ name: "bob" });
  });

  test("a file entry with the variable's name replaces that entry", () => {
    write([{ name: "bob", key: CAROL, rps: 1 }]);
    const keys = ClientKeys.load({ file, env: `bob:${BOB}`, clock, log: log() })!;
    expect(keys.lookup(BOB)).toBeUndefined();
    expect(keys.lookup(CAROL)).toEqual({ name: "bob" });
    expect(keys.limitsFor("key:bob")).toEqual({ rps: 1, tpm: undefined });
  });
});
