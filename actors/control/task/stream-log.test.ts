// A task's stream over the real state store: memory stays bounded however long the stream,
// a subscriber joining after the window replays the rest from the store and then joins live
// (events that arrive during its replay included) in order without gaps or duplicates, the held
// last event reaches nobody before its release, and the transcript is assembled from the store.

import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, RealClock } from "../../../runtime/index.ts";
import type { StreamEvent, TaskSpec } from "../../../contract/index.ts";
import { openSqliteStore, type SqliteStateStore } from "../../../adapters/storage/sqlite-store.ts";
import { artifactId } from "../artifacts/canonical.ts";
import { StreamLog } from "./stream-log.ts";
import { createStreamHooks, type StreamStoreHooks } from "./stream-store.ts";
import { foldTokens } from "./transcript.ts";

let dir: string;
let store: SqliteStateStore;
let hooks: StreamStoreHooks;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "stream-log-"));
  store = await openSqliteStore({ dir, retention: { maxAgeMs: 1e12, maxBytes: 1e12, intervalMs: 0 } });
  hooks = createStreamHooks({ store, clock: new RealClock(), log: createLogger({ clock: new RealClock(), sink: () => {} }) });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const token = (i: number): StreamEvent => ({ type: "token", data: { t: `w${i}`, i } });
const started: StreamEvent = { type: "started", data: { queue_position: 0, predicted_start_ms: 0, engine: "mock", engine_version: "1", pool_id: "p", replica_id: "r", node_id: "n" } };
const end = (n: number): StreamEvent => ({ type: "end", data: { tokens_out: n, decode_time_ms: 1, decode_ms: 1 } });

function streamLog(task_id = "t1", window = 8, chunkEvents = 4) {
  return new StreamLog({ window, chunkEvents, append: (c) => hooks.append(task_id, c), replay: (from, to) => hooks.replay(task_id, from, to) });
}

/** Resolves once the sink has received `n` events. */
function collector() {
  const events: StreamEvent[] = [];
  let want = Infinity;
  let done!: () => void;
  const reached = new Promise<void>((r) => (done = r));
  return {
    events,
    sink: { push: (e: StreamEvent) => void (events.push(e), events.length >= want && done()) },
    until: (n: number) => ((want = n), events.length >= n && done(), reached),
  };
}

test("memory holds the window plus what the store has not committed, however long the stream", async () => {
  const log = streamLog();
  log.emit(started);
  let peak = 0;
  for (let i = 0; i < 5000; i++) {
    log.emit(token(i));
    if (i % 500 === 499) {
      await store.flush();
      await Bun.sleep(0); // let the commit acknowledgements run
      peak = Math.max(peak, log.inMemory);
    }
  }
  expect(log.total).toBe(5001);
  expect(peak).toBeLessThanOrEqual(8 + 2 * 4);
  const stored = await hooks.replay("t1", 0, 5001);
  expect(stored.length).toBeGreaterThanOrEqual(5001 - 16);
  expect(stored.slice(0, 3)).toEqual([started, token(0), token(1)]);
});

test("a late subscriber replays from the store, then the window, then what came during its replay, without gaps or duplicates", async () => {
  const log = streamLog();
  const sent: StreamEvent[] = [started];
  log.emit(started);
  for (let i = 0; i < 200; i++) log.emit((sent.push(token(i)), token(i)));
  await store.flush();
  await Bun.sleep(0);
  const late = collector();
  log.subscribe(late.sink); // its replay is now under way
  for (let i = 200; i < 230; i++) log.emit((sent.push(token(i)), token(i)));
  await late.until(sent.length);
  expect(late.events).toEqual(sent);
  log.emit(token(230));
  expect(late.events.at(-1)).toEqual(token(230)); // live now
});

test("the held last event reaches nobody, late subscribers included, until its release; nothing follows it", async () => {
  const log = streamLog("t2");
  const early = collector();
  log.subscribe(early.sink);
  log.emit(started);
  for (let i = 0; i < 40; i++) log.emit(token(i));
  const last = log.hold(end(40));
  expect(typeof last?.seq).toBe("number"); // (toMatchObject with expect.any would rewrite `last` in place)
  await hooks.append("t2", last!);
  log.stored(last);
  const late = collector();
  log.subscribe(late.sink);
  await late.until(41);
  await Bun.sleep(0);
  expect(late.events.length).toBe(41);
  expect(early.events.at(-1)).toEqual(token(39));
  log.release();
  expect(early.events.at(-1)).toEqual(end(40));
  expect(late.events.at(-1)).toEqual(end(40));
  log.emit(token(99));
  expect(early.events.at(-1)).toEqual(end(40));
  expect(log.watchers).toBe(0);
});

test("an ended stream keeps no events in memory; a subscriber after the end reads all of it from the store", async () => {
  const log = streamLog("t5");
  const all: StreamEvent[] = [started];
  log.emit(started);
  for (let i = 0; i < 10; i++) log.emit((all.push(token(i)), token(i)));
  all.push(end(10));
  const last = log.hold(end(10));
  await hooks.append("t5", last!);
  log.stored(last);
  log.release();
  expect(log.inMemory).toBe(0);
  const after = collector();
  log.subscribe(after.sink);
  await after.until(all.length);
  expect(after.events).toEqual(all);
  expect(log.watchers).toBe(0);
});

test("a subscriber that leaves during its replay gets nothing more", async () => {
  const log = streamLog("t3");
  log.emit(started);
  for (let i = 0; i < 100; i++) log.emit(token(i));
  await store.flush();
  await Bun.sleep(0);
  const gone = collector();
  log.subscribe(gone.sink);
  expect(log.unsubscribe(gone.sink)).toBe(true);
  await hooks.replay("t3", 0, 1); // after the replay's read
  await Bun.sleep(0);
  expect(gone.events).toEqual([]);
  expect(log.watchers).toBe(0);
});

test("the transcript is assembled from the stored chunks: one token run, the redacted request, a content address", async () => {
  const spec: TaskSpec = { task_id: "t4", workload: "completion", model_ref: "m", ctx: 0, priority: "interactive", prompt: "private words", max_tokens: 300 };
  const log = streamLog("t4", 8, 7);
  const all: StreamEvent[] = [started];
  log.emit(started);
  for (let i = 0; i < 300; i++) log.emit((all.push(token(i)), token(i)));
  all.push(end(300));
  const last = log.hold(end(300));
  const labels = { engine: "mock", engine_version: "1", pool_id: "p", replica_id: "r" };
  await hooks.finish("t4", last, { spec, last: end(300), tokens: 300, decodeMs: 1, queueMs: 0, labels, nodeId: "n" });
  const [ref] = await store.artifacts.list({ tags: ["task:t4"], limit: 10 });
  const doc = (await store.artifacts.get(ref!.id))!;
  expect(doc.content.events).toEqual(foldTokens(all));
  expect(doc.content).toMatchObject({ job_id: "t4", outcome: "completed", tokens_out: 300 });
  expect(JSON.stringify(doc)).not.toContain("private words");
  expect(ref!.id).toBe(artifactId({ kind: doc.kind, content: doc.content, tags: doc.tags, parent: null, metadata: doc.metadata }));
});

test("a stream that ended within its first chunk keeps its events packed; a subscriber after the end gets them all, in order", async () => {
  const log = streamLog("t6", 128, 64);
  const metrics: StreamEvent = { type: "metrics", data: { queue_depth: 1, on_time_probability: 1, kv_warmth: false, tokens_budget_remaining: 5, time_budget_remaining_ms: 5, cost_budget_remaining: 1, tokens_out: 2, human: "two so far" } };
  const all: StreamEvent[] = [started, token(0), token(1), metrics, token(2), end(3)];
  for (const e of all.slice(0, -1)) log.emit(e);
  const last = log.hold(end(3));
  expect(last).toMatchObject({ seq: 0, count: 6 });
  log.stored(undefined); // stored only inside the transcript, not as a chunk
  log.release();
  expect(log.inMemory).toBe(6);
  for (let k = 0; k < 2; k++) {
    const after = collector();
    log.subscribe(after.sink);
    await after.until(all.length);
    expect(after.events).toEqual(all);
  }
  expect(log.watchers).toBe(0);
});

test("progress reports reach the subscribers watching now, and are neither numbered, replayed nor stored", async () => {
  const log = streamLog("t-report", 2, 2);
  const live = collector();
  log.subscribe(live.sink);
  const report: StreamEvent = { type: "metrics", data: { queue_depth: 0, on_time_probability: 1, kv_warmth: false, tokens_budget_remaining: 1, time_budget_remaining_ms: 1, cost_budget_remaining: 1, tokens_out: 1 } };
  log.emit(started);
  log.emit(token(0));
  log.report(report);
  for (let i = 1; i < 6; i++) log.emit(token(i));
  log.report(report);
  expect(live.events.map((e) => e.type)).toEqual(["started", "token", "metrics", "token", "token", "token", "token", "token", "metrics"]);
  expect(log.total).toBe(7);
  // A later subscriber (its window moved past the start: a replay from the store) gets no reports.
  const late = collector();
  log.subscribe(late.sink);
  await late.until(7);
  expect(late.events.map((e) => e.type)).toEqual(["started", ...Array(6).fill("token")]);
  const last = log.hold(end(6));
  const transcript = await hooks.finish("t-report", last, { spec: { task_id: "t-report", model_ref: "m", prompt: "p", max_tokens: 6 } as TaskSpec, last: end(6), tokens: 6, decodeMs: 1, queueMs: 0, labels: { engine: "mock", engine_version: "1", pool_id: "p", replica_id: "r" }, nodeId: "n" });
  expect(transcript).toBe(true);
  const [ref] = await store.artifacts.list({ tags: ["task:t-report"], limit: 1 });
  const stored = (await store.artifacts.get(ref!.id))!.content.events as { type: string }[];
  expect(stored.map((e) => e.type)).toEqual(["started", "tokens", "end"]);
  log.release();
  log.report(report); // after the end: nobody hears it
  expect(live.events.at(-1)!.type).toBe("end");
});

test("log probabilities survive the store, the packed window and the transcript: a late subscriber replays exactly what live ones got", async () => {
  const lpToken = (i: number): StreamEvent => ({ type: "token", data: { t: `w${i}`, i, lp: { logprob: -(i + 1) / 100, top: [{ t: `w${i}`, logprob: -(i + 1) / 100 }, { t: "alt", logprob: -5 }] } } });
  // Long: the window moves on, the late subscriber's replay comes from stored chunks.
  const log = streamLog("t-lp", 8, 4);
  const live = collector();
  log.subscribe(live.sink);
  const all: StreamEvent[] = [started];
  log.emit(started);
  for (let i = 0; i < 50; i++) log.emit((all.push(lpToken(i)), lpToken(i)));
  await store.flush();
  await Bun.sleep(0);
  const late = collector();
  log.subscribe(late.sink);
  await late.until(all.length);
  expect(late.events).toEqual(all);
  expect(live.events).toEqual(all);
  all.push(end(50));
  const last = log.hold(end(50));
  const labels = { engine: "openai", engine_version: "1", pool_id: "p", replica_id: "r" };
  await hooks.finish("t-lp", last, { spec: { task_id: "t-lp", model_ref: "m", prompt: "p", max_tokens: 50 } as TaskSpec, last: end(50), tokens: 50, decodeMs: 1, queueMs: 0, labels, nodeId: "n" });
  const [ref] = await store.artifacts.list({ tags: ["task:t-lp"], limit: 1 });
  const events = (await store.artifacts.get(ref!.id))!.content.events as { type: string; data: { t?: string[]; lp?: unknown[] } }[];
  expect(events.map((e) => e.type)).toEqual(["started", "tokens", "end"]); // one run, joined across chunks
  expect(events[1]!.data.lp).toHaveLength(50);
  expect(events).toEqual(foldTokens(all) as never);
  // Short: packed after the end; tokens without log probabilities next to ones with them stay apart.
  const short = streamLog("t-lp2", 128, 64);
  const mixed: StreamEvent[] = [started, lpToken(0), lpToken(1), token(2), lpToken(3), end(4)];
  for (const e of mixed.slice(0, -1)) short.emit(e);
  short.stored(undefined);
  short.hold(end(4));
  short.release();
  const after = collector();
  short.subscribe(after.sink);
  await after.until(mixed.length);
  expect(after.events).toEqual(mixed);
  expect(foldTokens(mixed).map((e) => e.type)).toEqual(["started", "tokens", "tokens", "tokens", "end"]);
});
