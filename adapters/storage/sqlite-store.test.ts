// The SQLite state store on a real temp directory: WAL and synchronous=FULL, batched commits,
// acknowledged writes visible to a fresh connection at once (durable), idempotent artifacts,
// listing, stream chunks, records, and retention by age and by size with its counts.

import { afterEach, beforeEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ArtifactDocumentV2 } from "../../contract/index.ts";
import { openSqliteStore, type SqliteStateStore, type SqliteStoreOptions } from "./sqlite-store.ts";

let dir: string;
let opened: SqliteStateStore | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "state-store-"));
});
afterEach(async () => {
  await opened?.close();
  opened = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function open(extra: Partial<SqliteStoreOptions> = {}) {
  const committed: string[] = [];
  const evicted: Record<string, number> = {};
  let now = 1_000_000;
  const store = await openSqliteStore({
    dir,
    now: () => now,
    retention: { maxAgeMs: 10_000, maxBytes: 1 << 30, intervalMs: 0 },
    observer: {
      committed: (kind, n) => void committed.push(`${kind}:${n}`),
      evicted: (kind, n) => void (evicted[kind] = (evicted[kind] ?? 0) + n),
    },
    ...extra,
  });
  opened = store;
  return { store, committed, evicted, advance: (ms: number) => void (now += ms) };
}

const doc = (n: number, created_ms: number, tags = ["t"], size = 10): ArtifactDocumentV2 => {
  const id = n.toString(16).padStart(64, "0");
  return { id, kind: "plan", digest: `sha256:${id}`, created_ms, tags, parent: null, metadata: {}, content: { n, pad: "x".repeat(size) } };
};

/** A second, independent connection: what a restarted process would read. */
const fresh = <T>(sql: string, ...params: (string | number)[]) => {
  const db = new Database(join(dir, "state.db"), { readonly: true });
  try {
    return db.query<T, (string | number)[]>(sql).all(...params);
  } finally {
    db.close();
  }
};

test("the database is in WAL mode with synchronous=FULL and passes integrity_check", async () => {
  const { store } = await open();
  expect(store.reader.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
  const db = new Database(join(dir, "state.db"));
  expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
  db.close();
});

test("concurrent writes commit in a few batches, and each is on disk for a new connection the moment it resolves", async () => {
  const { store, committed } = await open();
  const seen: number[] = [];
  await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      store.artifacts.put(doc(i + 1, 1_000_000), { transcript: i % 2 === 0 }).then(() => {
        seen.push(fresh<{ n: number }>("SELECT COUNT(*) AS n FROM artifacts WHERE id = ?", doc(i + 1, 0).id)[0]!.n);
      }),
    ),
  );
  expect(seen).toEqual(Array(200).fill(1));
  const batches = committed.length;
  expect(batches).toBeLessThanOrEqual(4); // transcript:n and artifact:n per batch
  expect(store.storedBytes()).toBe(fresh<{ n: number }>("SELECT SUM(bytes) AS n FROM artifacts")[0]!.n);
});

test("an artifact is stored once: a second put answers the first created_ms; get and list read it back", async () => {
  const { store } = await open();
  const first = await store.artifacts.put(doc(1, 5_000, ["a", "b"]));
  expect(first).toEqual({ id: doc(1, 0).id, kind: "plan", digest: `sha256:${doc(1, 0).id}`, created_ms: 5_000, tags: ["a", "b"] });
  expect((await store.artifacts.put(doc(1, 9_000, ["a", "b"]))).created_ms).toBe(5_000);
  await store.artifacts.put(doc(2, 6_000, ["a"]));
  expect(await store.artifacts.get(doc(1, 0).id)).toEqual(doc(1, 5_000, ["a", "b"]));
  expect(await store.artifacts.get("f".repeat(64))).toBeUndefined();
  expect((await store.artifacts.list({ tags: ["a"], limit: 10 })).map((r) => r.created_ms)).toEqual([6_000, 5_000]);
  expect((await store.artifacts.list({ tags: ["a", "b"], limit: 10 })).map((r) => r.created_ms)).toEqual([5_000]);
  expect((await store.artifacts.list({ tags: [], kind: "trace", limit: 10 }))).toEqual([]);
  expect((await store.artifacts.list({ tags: [], limit: 1 })).map((r) => r.created_ms)).toEqual([6_000]);
});

test("stream chunks: appended in order, read by range, a re-appended chunk is kept once, discard frees them", async () => {
  const { store } = await open();
  await store.streams.append("t1", { seq: 0, count: 2, entries: [{ type: "started" }, { type: "tokens", data: { from: 0, t: ["a"] } }] });
  await store.streams.append("t1", { seq: 2, count: 3, entries: [{ type: "tokens", data: { from: 1, t: ["b", "c", "d"] } }] });
  await store.streams.append("t1", { seq: 2, count: 3, entries: [{ type: "tokens", data: { from: 1, t: ["b", "c", "d"] } }] });
  await store.streams.append("t2", { seq: 0, count: 1, entries: [{ type: "started" }] });
  expect((await store.streams.read("t1")).map((c) => c.seq)).toEqual([0, 2]);
  expect((await store.streams.read("t1", 2, 5)).map((c) => c.seq)).toEqual([2]);
  expect((await store.streams.read("t1", 0, 2)).map((c) => c.seq)).toEqual([0]);
  const before = store.storedBytes();
  await store.streams.discard("t1");
  expect(await store.streams.read("t1")).toEqual([]);
  expect(store.storedBytes()).toBeLessThan(before);
  expect((await store.streams.read("t2")).length).toBe(1);
  expect(await store.streams.clear()).toBe(1);
  expect(await store.streams.read("t2")).toEqual([]);
  expect(store.storedBytes()).toBe(0);
});

test("records: catalog and sessions put, replace, delete, and load across a reopen", async () => {
  const { store } = await open();
  await store.catalog.put("m1", { id: "m1", lifecycle: "Active" });
  await store.catalog.put("m1", { id: "m1", lifecycle: "Retired" });
  await store.catalog.put("m2", { id: "m2" });
  await store.catalog.delete("m2");
  await store.sessions.put("s1", { turns: 2 }, { expires_ms: 42, coalesce: true });
  await store.close();
  const again = await openSqliteStore({ dir, retention: { maxAgeMs: 1, maxBytes: 1, intervalMs: 0 } });
  opened = again;
  expect(await again.catalog.load()).toEqual([{ id: "m1", value: { id: "m1", lifecycle: "Retired" } }]);
  expect(await again.sessions.load()).toEqual([{ id: "s1", value: { turns: 2 }, expires_ms: 42 }]);
});

test("retention evicts by age first, then the oldest artifacts until under the size bound, and counts each kind", async () => {
  const { store, evicted, advance } = await open({ retention: { maxAgeMs: 10_000, maxBytes: 1 << 30, intervalMs: 0, batch: 3 } });
  await store.streams.append("gone", { seq: 0, count: 1, entries: [{ type: "started" }] }); // at 1_000_000
  for (let i = 1; i <= 5; i++) await store.artifacts.put(doc(i, 980_000 + i), { transcript: i <= 2 }); // old
  for (let i = 6; i <= 9; i++) await store.artifacts.put(doc(i, 1_010_000 + i, ["t"], 1000)); // young
  advance(15_000); // now 1_015_000: older than 1_005_000 goes
  let report = await store.retain();
  expect(report.evicted).toEqual({ artifact: 3, transcript: 2, stream: 1 });
  expect(evicted).toEqual({ artifact: 3, transcript: 2, stream: 1 });
  expect((await store.artifacts.list({ tags: [], limit: 100 })).map((r) => r.created_ms)).toEqual([1_010_009, 1_010_008, 1_010_007, 1_010_006]);
  expect(await store.streams.read("gone")).toEqual([]);
  // Size: nothing old, but over the bound.
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const sized = await open({ retention: { maxAgeMs: 1e12, maxBytes: 3000, intervalMs: 0, batch: 2 } });
  for (let i = 1; i <= 6; i++) await sized.store.artifacts.put(doc(i, 1_000 + i, ["t"], 1000));
  report = await sized.store.retain();
  const left = (await sized.store.artifacts.list({ tags: [], limit: 100 })).map((r) => r.created_ms);
  expect(left).toEqual([1_006, 1_005]); // the newest that fit, the oldest went first
  expect(report.evicted.artifact).toBe(4);
  expect(sized.store.storedBytes()).toBeLessThanOrEqual(3000);
  expect(sized.store.storedBytes()).toBe(fresh<{ n: number }>("SELECT SUM(bytes) AS n FROM artifacts")[0]!.n);
  // An evicted artifact's tag rows go with it: only the survivors are listed under their tag.
  expect(fresh<{ id: string }>("SELECT id FROM artifact_tags ORDER BY created_ms").map((r) => r.id)).toEqual([doc(5, 0).id, doc(6, 0).id]);
  expect((await sized.store.artifacts.list({ tags: ["t"], limit: 100 })).map((r) => r.created_ms)).toEqual([1_006, 1_005]);
});
