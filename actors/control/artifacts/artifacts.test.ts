// The artifact actor over a real state store in a temp directory: content addressing, idempotent
// puts that keep the first created_ms, documents that survive a restart, and damaged rows.

import { afterEach, beforeEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActorSystem, createLogger, SimClock } from "../../../runtime/index.ts";
import type { ArtifactDocumentV2, ArtifactV2 } from "../../../contract/index.ts";
import { openSqliteStore, type SqliteStateStore } from "../../../adapters/storage/sqlite-store.ts";
import { artifactsActor } from "./artifacts.ts";
import { artifactId, canonicalJson } from "./canonical.ts";
import type { ArtifactsMsg, ArtifactsReplies } from "./protocol.ts";

let dir: string;
let system: ActorSystem | undefined;
let store: SqliteStateStore | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "artifacts-"));
});
afterEach(async () => {
  await system?.shutdown();
  await store?.close();
  system = undefined;
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const rows = () => store!.reader.query<{ id: string }, []>("SELECT id FROM artifacts ORDER BY id").all().map((r) => r.id);

async function start() {
  const clock = new SimClock(5_000);
  system = new ActorSystem({ name: "artifacts-test", clock });
  store = await openSqliteStore({ dir, retention: { maxAgeMs: 1e12, maxBytes: 1e12, intervalMs: 0 } });
  const logs: string[] = [];
  const ref = await system.spawn<ArtifactsMsg, ArtifactsReplies>(
    "control/artifacts",
    artifactsActor({ store, log: createLogger({ clock, sink: (l) => void logs.push(l) }) }),
  );
  return { ref, clock, logs };
}

const trace: ArtifactV2 = { kind: "trace", content: { transcript: [{ type: "end", data: { tokens_out: 3 } }] }, tags: ["sse", "task:t1"], metadata: { engine: "mock" } };

test("canonicalJson sorts keys at every depth and drops undefined members", () => {
  expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" }, u: undefined })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  expect(canonicalJson([undefined, null, "é"])).toBe('[null,null,"é"]');
  expect(artifactId({ kind: "plan", content: {} })).toBe(createHash("sha256").update('{"content":{},"kind":"plan"}').digest("hex"));
});

test("put answers the content address; the same document in any key order gets the same ref", async () => {
  const { ref, clock } = await start();
  const first = await ref.ask({ type: "put", artifact: trace });
  const id = artifactId(trace);
  expect(first).toEqual({ ok: true, value: { id, kind: "trace", digest: `sha256:${id}`, created_ms: 5_000, tags: ["sse", "task:t1"] } });
  await clock.advance(1_000);
  const reordered = JSON.parse(JSON.stringify({ metadata: trace.metadata, tags: trace.tags, content: trace.content, kind: trace.kind }));
  expect(await ref.ask({ type: "put", artifact: reordered })).toEqual(first); // created_ms is the first one
  expect(rows()).toEqual([id]);

  const other = await ref.ask({ type: "put", artifact: { ...trace, tags: ["other"] } });
  expect(other.ok && other.value.id).not.toBe(id);
  expect(other.ok && other.value.created_ms).toBe(6_000);
});

test("get returns the stored document with defaults for absent fields, also after a restart", async () => {
  const { ref } = await start();
  const put = await ref.ask({ type: "put", artifact: { kind: "plan", content: { steps: ["a"] } } });
  const id = put.ok ? put.value.id : "";
  const expected: ArtifactDocumentV2 = { id, kind: "plan", digest: `sha256:${id}`, created_ms: 5_000, tags: [], parent: null, metadata: {}, content: { steps: ["a"] } };
  expect(await ref.ask({ type: "get", id })).toEqual({ ok: true, value: expected });
  expect(JSON.parse(store!.reader.query<{ doc: string }, [string]>("SELECT doc FROM artifacts WHERE id = ?").get(id)!.doc)).toEqual(expected);

  await system!.shutdown();
  await store!.close();
  const again = await start();
  expect(await again.ref.ask({ type: "get", id })).toEqual({ ok: true, value: expected });
  expect(await again.ref.ask({ type: "get", id: "f".repeat(64) })).toEqual({ ok: true, value: undefined });
  expect(await again.ref.ask({ type: "get", id: "../etc/passwd" })).toEqual({ ok: true, value: undefined });
});

test("invalid documents are refused with INVALID_PARAMS and store nothing", async () => {
  const { ref } = await start();
  const bad = await ref.ask({ type: "put", artifact: { kind: "poem", content: {} } as unknown as ArtifactV2 });
  expect(bad).toMatchObject({ ok: false, error: { code: "INVALID_PARAMS", message: expect.stringContaining("kind") } });
  expect(rows()).toEqual([]);
});

test("a damaged row is an error on get, not a 404", async () => {
  const { ref, logs } = await start();
  const id = artifactId(trace);
  const db = new Database(join(dir, "state.db"));
  db.run("INSERT INTO artifacts (id, kind, created_ms, tags, bytes, doc) VALUES (?, 'trace', 1, '[]', 5, '{torn')", [id]);
  db.close();
  expect(await ref.ask({ type: "get", id })).toEqual({ ok: false, error: { code: "INTERNAL", message: `artifact ${id} is unreadable` } });
  expect(logs.some((l) => l.includes("is unreadable"))).toBe(true);
});

test("a put that cannot be written is INTERNAL; other messages are answered while a put waits for its commit", async () => {
  const { ref } = await start();
  const put = ref.ask({ type: "put", artifact: { kind: "plan", content: { x: 1 } } });
  expect(await ref.ask({ type: "list", tags: [], limit: 10 })).toEqual([]); // not committed yet: not listed
  expect((await put).ok).toBe(true);
  await store!.close();
  expect(await ref.ask({ type: "put", artifact: { kind: "plan", content: { x: 2 } } })).toEqual({ ok: false, error: { code: "INTERNAL", message: "could not store the artifact" } });
});

test("canonical JSON refuses documents nested past MAX_JSON_DEPTH instead of overflowing the stack", async () => {
  const { canonicalJson, JsonTooDeepError } = await import("./canonical.ts");
  let deep: unknown = {};
  for (let i = 0; i < 20_000; i++) deep = [deep];
  expect(() => canonicalJson({ content: deep })).toThrow(JsonTooDeepError);
  expect(canonicalJson({ b: { __proto__: 1 }, a: [1] })).toBe('{"a":[1],"b":{}}'); // a literal __proto__ sets the prototype
  expect(canonicalJson(JSON.parse('{"b":{"__proto__":1},"a":[1]}'))).toBe('{"a":[1],"b":{"__proto__":1}}');
});
