// The one-time import of the old file stores: a catalog index.json and artifact files (listed in
// refs.jsonl) into a fresh state database; a second start imports nothing and never overwrites;
// old or unreadable artifacts are skipped; an index of another schema version refuses the start.

import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrateLegacyFiles } from "./migrate.ts";
import { openSqliteStore, type SqliteStateStore } from "./sqlite-store.ts";

let dir: string;
let store: SqliteStateStore | undefined;
const lines: string[] = [];
const log = { info: (m: string) => void lines.push(m), warn: (m: string) => void lines.push(m) };
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "migrate-"));
  lines.length = 0;
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const open = async () => (store = await openSqliteStore({ dir: join(dir, "state"), retention: { maxAgeMs: 1e12, maxBytes: 1e12, intervalMs: 0 } }));
const entry = (id: string, lifecycle = "Active") => ({ id, tags: [], manifests: [], signatures: [], lifecycle, created_ms: 1, updated_ms: 2 });
const artifact = (n: number, created_ms: number, kind: "trace" | "plan" = "trace", tags = ["sse", "stream", `task:t${n}`]) => {
  const id = n.toString(16).padStart(64, "0");
  return { id, kind, digest: `sha256:${id}`, created_ms, tags, parent: null, metadata: {}, content: { n } };
};

function writeCatalog(models: Record<string, unknown>, schema_version = 1) {
  mkdirSync(join(dir, "catalog"), { recursive: true });
  writeFileSync(join(dir, "catalog", "index.json"), JSON.stringify({ schema_version, models }));
}

test("an existing catalog index is imported on first start, and only then", async () => {
  writeCatalog({ tiny: entry("tiny", "Retired"), big: entry("big") });
  await open();
  const first = await migrateLegacyFiles(store!, { catalogRoot: join(dir, "catalog") }, { log, now: 10, maxAgeMs: 1e12 });
  expect(first.catalog).toBe(2);
  expect((await store!.catalog.load()).map((r) => [r.id, (r.value as { lifecycle: string }).lifecycle])).toEqual([
    ["big", "Active"],
    ["tiny", "Retired"],
  ]);
  expect(lines.some((l) => l.includes("Imported 2 catalog model(s)"))).toBe(true);

  // The database is the truth from now on: changes there are kept, the file is not read again.
  await store!.catalog.put("tiny", entry("tiny", "Active"));
  await store!.catalog.delete("big");
  writeCatalog({ tiny: entry("tiny", "Retired"), big: entry("big"), other: entry("other") });
  await store!.close();
  await open();
  expect((await migrateLegacyFiles(store!, { catalogRoot: join(dir, "catalog") }, { log, now: 10, maxAgeMs: 1e12 })).catalog).toBe(0);
  expect((await store!.catalog.load()).map((r) => [r.id, (r.value as { lifecycle: string }).lifecycle])).toEqual([["tiny", "Active"]]);
});

test("artifact files listed in refs.jsonl are imported when younger than the retention age; the rest are skipped", async () => {
  const root = join(dir, "artifacts");
  mkdirSync(root);
  const young = artifact(1, 9_000);
  const plan = artifact(2, 9_500, "plan", ["p"]);
  const old = artifact(3, 100);
  for (const a of [young, plan, old]) writeFileSync(join(root, `${a.id}.json`), JSON.stringify(a));
  const torn = artifact(4, 9_900);
  writeFileSync(join(root, `${torn.id}.json`), "{torn");
  const refs = [young, plan, old, torn].map((a) => JSON.stringify({ id: a.id, kind: a.kind, digest: a.digest, created_ms: a.created_ms, tags: a.tags }));
  writeFileSync(join(root, "refs.jsonl"), `${refs.join("\n")}\n{"id":"half`);
  await open();
  const report = await migrateLegacyFiles(store!, { artifactsRoot: root }, { log, now: 10_000, maxAgeMs: 5_000 });
  expect(report).toEqual({ catalog: 0, artifacts: 2, skipped: 3 });
  expect(await store!.artifacts.get(young.id)).toEqual(young);
  expect((await store!.artifacts.list({ tags: ["stream"], limit: 10 })).map((r) => r.id)).toEqual([young.id]);
  expect(await store!.artifacts.get(old.id)).toBeUndefined();
  expect(store!.reader.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM artifacts WHERE transcript = 1").get()!.n).toBe(1);
});

test("a record appended after a torn index line is imported, not hidden by the tear", async () => {
  const root = join(dir, "artifacts");
  mkdirSync(root, { recursive: true });
  const before = artifact(5, 9_000);
  const after = artifact(6, 9_100);
  for (const a of [before, after]) writeFileSync(join(root, `${a.id}.json`), JSON.stringify(a));
  const line = (a: typeof before) => JSON.stringify({ id: a.id, kind: a.kind, digest: a.digest, created_ms: a.created_ms, tags: a.tags });
  // The crash tore `before`'s record mid-append; the next start appended `after` onto the same line.
  writeFileSync(join(root, "refs.jsonl"), `${line(before).slice(0, 40)}${line(after)}\n`);
  await open();
  const report = await migrateLegacyFiles(store!, { artifactsRoot: root }, { log, now: 10_000, maxAgeMs: 5_000 });
  expect(report).toEqual({ catalog: 0, artifacts: 1, skipped: 0 });
  expect(await store!.artifacts.get(after.id)).toEqual(after);
});

test("a catalog index of another schema version or with a bad entry refuses the start, naming the file", async () => {
  writeCatalog({}, 2);
  await open();
  await expect(migrateLegacyFiles(store!, { catalogRoot: join(dir, "catalog") }, { log, now: 0, maxAgeMs: 1 })).rejects.toThrow(/index.json: unsupported catalog index schema_version 2/);
  writeCatalog({ a: entry("b") });
  await expect(migrateLegacyFiles(store!, { catalogRoot: join(dir, "catalog") }, { log, now: 0, maxAgeMs: 1 })).rejects.toThrow(/invalid entry "a"/);
  // Missing sources are simply nothing to import.
  expect(await migrateLegacyFiles(store!, { catalogRoot: join(dir, "none"), artifactsRoot: join(dir, "none2") }, { log, now: 0, maxAgeMs: 1 })).toEqual({ catalog: 0, artifacts: 0, skipped: 0 });
});
