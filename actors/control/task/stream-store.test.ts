// A task's transcript on a real SQLite store: a stream that ended within its first chunk is stored
// as its transcript alone (no chunk rows, one commit); a longer one from its stored chunks. Both
// transcripts hold every event, in order.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, SimClock } from "../../../runtime/index.ts";
import type { StreamEvent, TaskSpec } from "../../../contract/index.ts";
import { openSqliteStore, type SqliteStateStore } from "../../../adapters/storage/sqlite-store.ts";
import { createStreamHooks } from "./stream-store.ts";
import { foldTokens, type TranscriptHeader } from "./transcript.ts";

let store: SqliteStateStore | undefined;
let dir: string | undefined;
afterEach(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  store = undefined;
  dir = undefined;
});

function header(task_id: string, last: StreamEvent): TranscriptHeader {
  const spec = { task_id, model_ref: "tiny", prompt: "secret", max_tokens: 8, priority: "interactive" } as unknown as TaskSpec;
  return { spec, last, tokens: 3, decodeMs: 5, queueMs: 1, labels: { engine: "mock", engine_version: "1", pool_id: "p0", replica_id: "r0" }, nodeId: "n1" };
}

const started: StreamEvent = { type: "started", data: { queue_position: 0, predicted_start_ms: 0 } };
const end: StreamEvent = { type: "end", data: { tokens_out: 3, decode_time_ms: 5, decode_ms: 5 } };
const tokens = (from: number, n: number): StreamEvent[] => Array.from({ length: n }, (_, k) => ({ type: "token", data: { t: `w${from + k}`, i: from + k } }));

async function setup() {
  dir = mkdtempSync(join(tmpdir(), "stream-store-"));
  const clock = new SimClock(1_000);
  store = await openSqliteStore({ dir, now: () => clock.now(), retention: { maxAgeMs: 60_000, maxBytes: 1 << 30, intervalMs: 0 } });
  let lost = 0;
  const hooks = createStreamHooks({ store, log: createLogger({ clock, sink: () => {} }), clock, onLost: () => void lost++ });
  const transcript = async (task_id: string) => {
    const refs = await store!.artifacts.list({ tags: [`task:${task_id}`], limit: 5 });
    expect(refs).toHaveLength(1);
    return (await store!.artifacts.get(refs[0]!.id))!.content as { events: unknown[] };
  };
  return { hooks, transcript, lost: () => lost };
}

test("a stream that ended within its first chunk: its transcript alone, no chunk rows", async () => {
  const { hooks, transcript, lost } = await setup();
  const events = [started, ...tokens(0, 3), end];
  const chunked = await hooks.finish("short", { seq: 0, count: events.length, entries: foldTokens(events) }, header("short", end));
  expect(chunked).toBe(false);
  expect(await store!.streams.read("short")).toEqual([]);
  expect((await transcript("short")).events).toEqual(foldTokens(events));
  expect(lost()).toBe(0);
});

test("a longer stream: its transcript from the stored chunks and the last one", async () => {
  const { hooks, transcript } = await setup();
  const first = [started, ...tokens(0, 2)];
  await hooks.append("long", { seq: 0, count: first.length, entries: foldTokens(first) });
  const rest = [...tokens(2, 1), end];
  const chunked = await hooks.finish("long", { seq: first.length, count: rest.length, entries: foldTokens(rest) }, header("long", end));
  expect(chunked).toBe(true);
  expect((await store!.streams.read("long")).length).toBe(2);
  expect((await transcript("long")).events).toEqual(foldTokens([...first, ...rest]));
});

test("a transcript that cannot be stored is logged with the task's correlation and trace ids, and counted", async () => {
  dir = mkdtempSync(join(tmpdir(), "stream-store-"));
  const clock = new SimClock(1_000);
  store = await openSqliteStore({ dir, now: () => clock.now(), retention: { maxAgeMs: 60_000, maxBytes: 1 << 30, intervalMs: 0 } });
  const lines: Record<string, unknown>[] = [];
  let lost = 0;
  const hooks = createStreamHooks({ store, log: createLogger({ clock, sink: (l) => void lines.push(JSON.parse(l)) }), clock, onLost: () => void lost++ });
  await store.close(); // a store that is gone: the put is refused
  const events = [started, ...tokens(0, 3), end];
  const ids = { correlation_id: "corr-1", trace_id: "0af7651916cd43dd8448eb211c80319c" };
  await hooks.finish("gone", { seq: 0, count: events.length, entries: foldTokens(events) }, { ...header("gone", end), logFields: ids });
  expect(lost).toBe(1);
  expect(lines.find((l) => l.msg === "Could not store a task transcript")).toMatchObject({ job_id: "gone", ...ids });
  store = undefined;
});
