// The task actor on simulated time: metrics frames while streaming (never after a cancel ack),
// the idle and wall watchdogs, the deadline, and what it leaves behind (spend, transcript).

import { afterEach, expect, test } from "bun:test";
import { ActorSystem, createLogger, SimClock, type ActorRef } from "../../../runtime/index.ts";
import { createControlMetrics } from "../../../adapters/metrics/index.ts";
import type { StreamEvent, TaskSpec } from "../../../contract/index.ts";
import type { AgentMsg } from "../../../contract/link.ts";
import type { SchedulerMsg } from "../scheduler/protocol.ts";
import type { StreamChunk } from "../../../adapters/storage/state-store.ts";
import type { TaskHooks, TaskMsg, TaskReplies, TranscriptArtifact } from "./protocol.ts";
import { MetricsTicker } from "./ticker.ts";
import { taskActor } from "./task.ts";
import { joinChunks, transcriptArtifact, unfoldChunks } from "./transcript.ts";

let system: ActorSystem | undefined;
afterEach(async () => {
  await system?.shutdown();
  system = undefined;
});

const budgets = { tokens_remaining: 1000, time_remaining_ms: 60_000, cost_remaining: 2 };
const baseSpec: TaskSpec = {
  task_id: "t1",
  session_id: "s1",
  workload: "completion",
  model_ref: "tiny",
  ctx: 0,
  priority: "interactive",
  prompt: "secret prompt",
  max_tokens: 100,
};

async function setup(spec: Partial<TaskSpec> = {}, opts: { wall_ms?: number; idle_ms?: number } = {}, stream?: { window: number; chunkEvents: number }) {
  const clock = new SimClock(1_000_000);
  system = new ActorSystem({ name: "task-test", clock });
  const toScheduler: SchedulerMsg[] = [];
  const toAgent: AgentMsg[] = [];
  const spent: unknown[] = [];
  const transcripts: TranscriptArtifact[] = [];
  /** The store, in memory: chunks commit at once. */
  const chunks: StreamChunk[] = [];
  let releaseSnapshot: (() => void) | undefined;
  const scheduler = await system.spawn<SchedulerMsg>("control/scheduler", () => ({ receive: (m) => void toScheduler.push(m) }));
  const agent: ActorRef<AgentMsg> = await system.spawn<AgentMsg>("fake/agent", () => ({ receive: (m) => void toAgent.push(m) }));
  const queueDepth = () => new Promise<number>((resolve) => (releaseSnapshot = () => resolve(3)));
  const ticker = new MetricsTicker(clock, 1000, queueDepth);
  const hooks: TaskHooks = {
    queueDepth,
    ticker,
    budgets: async () => ({ ...budgets, tokens_remaining: 900 }),
    warm: async () => true,
    spend: (...args) => void spent.push(args),
    stream: {
      append: async (_id, chunk) => void chunks.push(chunk),
      replay: async (_id, from, to) => unfoldChunks(chunks, from, to),
      finish: async (_id, last, header) => {
        if (last) chunks.push(last);
        transcripts.push(transcriptArtifact(header, joinChunks(chunks)));
        return true;
      },
      discard: () => {},
    },
  };
  const full = { ...baseSpec, ...spec };
  const task = await system.spawn<TaskMsg, TaskReplies>(
    `control/tasks/${full.task_id}`,
    taskActor(
      { scheduler: scheduler as never, log: createLogger({ clock, sink: () => {} }), metrics: createControlMetrics(), hooks, retentionMs: 60_000, timeouts: opts, metricsIntervalMs: 1000, stream },
      full,
      { queue_position: 0, predicted_start_ms: 0, correlation_id: "c1", budgets },
    ),
  );
  const events: StreamEvent[] = [];
  await task.ask({ type: "subscribe", sink: { push: (e) => events.push(e) } });
  const start = async () => {
    task.tell({ type: "assigned", node_id: "n1", pool_id: "p1", agent: agent as never });
    task.tell({ type: "engine-started", node_id: "n1", pool_id: "p1", replica_id: "r0", engine: "mock", engine_version: "1" });
    await clock.flush();
  };
  const token = async (i: number) => {
    task.tell({ type: "engine-token", t: `w${i}`, i });
    await clock.flush();
  };
  return { clock, task, events, toAgent, toScheduler, spent, transcripts, chunks, start, token, snapshot: () => releaseSnapshot?.() };
}

test("metrics frames follow the first token, then every interval, with queue depth and budgets", async () => {
  const t = await setup();
  await t.start();
  await t.token(0);
  t.snapshot();
  await t.clock.flush();
  expect(t.events.map((e) => e.type)).toEqual(["started", "token", "metrics"]);
  expect(t.events[2]!.data).toMatchObject({ queue_depth: 3, tokens_budget_remaining: 900, kv_warmth: true, on_time_probability: 1 });
  await t.token(1);
  await t.clock.advance(1000);
  t.snapshot();
  await t.clock.flush();
  expect(t.events.map((e) => e.type)).toEqual(["started", "token", "metrics", "token", "metrics"]);
});

test("after a cancel ack no metrics frame follows, even one already asked for", async () => {
  const t = await setup();
  await t.start();
  await t.token(0); // a metrics snapshot is now pending
  expect(await t.task.ask({ type: "cancel", reason: "client" })).toBe("canceled");
  t.snapshot();
  await t.token(1);
  await t.clock.flush();
  expect(t.events.map((e) => e.type)).toEqual(["started", "token", "end"]);
  expect(t.events.at(-1)!.data).toMatchObject({ canceled: true, tokens_out: 1 });
  expect(t.toAgent.filter((m) => m.type === "cancel")).toHaveLength(1);
});

test("the idle watchdog ends a stalled stream with DECODE_TIMEOUT and stops the engine", async () => {
  const t = await setup({}, { idle_ms: 500 });
  await t.start();
  await t.clock.advance(300);
  await t.token(0);
  await t.clock.advance(400); // 400 ms since the token: still fine
  expect(t.events.at(-1)!.type).not.toBe("error");
  await t.clock.advance(200);
  const last = t.events.at(-1)!;
  expect(last).toMatchObject({ type: "error", data: { code: "DECODE_TIMEOUT", retriable: true } });
  expect(t.toAgent.some((m) => m.type === "cancel")).toBe(true);
  await t.token(1); // late frames are ignored
  expect(t.events.at(-1)).toBe(last);
});

test("the wall watchdog ends a stream that keeps going for too long", async () => {
  const t = await setup({}, { wall_ms: 1000 });
  await t.start();
  for (let i = 0; i < 5; i++) {
    await t.clock.advance(250);
    await t.token(i);
  }
  expect(t.events.at(-1)).toMatchObject({ type: "error", data: { code: "DECODE_TIMEOUT" } });
  expect(t.events.filter((e) => e.type === "token")).toHaveLength(3); // at 250, 500, 750 ms; the wall ends it at 1000
});

test("a deadline that passes while queued ends the task with DEADLINE_UNMET", async () => {
  const t = await setup({ deadline_ms: 2000 });
  await t.clock.advance(2000);
  expect(t.events).toEqual([{ type: "error", data: expect.objectContaining({ code: "DEADLINE_UNMET", retriable: false }) }]);
  expect(t.toScheduler.some((m) => m.type === "task-ended")).toBe(true);
});

test("at its end the task spends its session budget and stores a redacted transcript", async () => {
  const t = await setup({ seed: 7 });
  await t.start();
  await t.clock.advance(100);
  await t.token(0);
  await t.token(1);
  t.task.tell({ type: "engine-end", tokens_out: 2, decode_ms: 100, stop_reason: "length" });
  await t.clock.flush();
  expect(t.spent).toEqual([["s1", "t1", 2, 100]]);
  expect(t.transcripts).toHaveLength(1);
  const tr = t.transcripts[0]!;
  expect(tr.kind).toBe("trace");
  expect(tr.tags).toEqual(["sse", "stream", "task:t1", "session:s1"]);
  expect(tr.content).toMatchObject({ job_id: "t1", session_id: "s1", seed: 7, outcome: "completed", tokens_out: 2, decode_time_ms: 100 });
  expect(tr.content.events.map((e) => e.type)).toEqual(["started", "tokens", "end"]);
  expect(tr.content.events[1]).toEqual({ type: "tokens", data: { from: 0, t: ["w0", "w1"] } });
  expect(JSON.stringify(tr)).not.toContain("secret prompt");
  expect(tr.content.request.prompt).toMatchObject({ redacted: true, chars: 13 });
  expect(tr.metadata).toMatchObject({ engine: "mock", pool_id: "p1", replica_id: "r0", node_id: "n1" });
});

test("a batch of tokens from the node is the same stream as tokens one by one: each counted, in order, in the transcript", async () => {
  const t = await setup();
  await t.start();
  await t.token(0);
  t.task.tell({ type: "engine-tokens", from: 1, t: ["w1", "w2", "w3"] });
  t.task.tell({ type: "engine-tokens", from: 1, t: "w1" } as never); // malformed: ignored, the task lives on
  t.task.tell({ type: "engine-tokens", from: Number.NaN, t: ["x"] } as never);
  await t.token(4);
  t.task.tell({ type: "engine-end", tokens_out: 5, decode_ms: 10, stop_reason: "length" });
  await t.clock.flush();
  const tokens = t.events.filter((e) => e.type === "token").map((e) => e.data);
  expect(tokens).toEqual([0, 1, 2, 3, 4].map((i) => ({ t: `w${i}`, i })));
  expect(t.events.at(-1)).toMatchObject({ type: "end", data: { tokens_out: 5 } });
  expect(t.transcripts[0]!.content.events[1]).toEqual({ type: "tokens", data: { from: 0, t: ["w0", "w1", "w2", "w3", "w4"] } });
});

test("a subscriber joining after the window gets the stored events, the window and the live ones, in order, once", async () => {
  const t = await setup({}, {}, { window: 4, chunkEvents: 2 });
  await t.start();
  for (let i = 0; i < 20; i++) await t.token(i);
  expect(t.chunks.length).toBeGreaterThan(5); // the stream went to the store as it came
  const late: StreamEvent[] = [];
  await t.task.ask({ type: "subscribe", sink: { push: (e) => late.push(e) } });
  await t.token(20);
  t.task.tell({ type: "engine-end", tokens_out: 21, decode_ms: 5, stop_reason: "length" });
  await t.clock.flush();
  const kinds = (es: StreamEvent[]) => es.filter((e) => e.type !== "metrics").map((e) => (e.type === "token" ? e.data.i : e.type));
  expect(kinds(late)).toEqual(["started", ...Array.from({ length: 21 }, (_, i) => i), "end"]);
  expect(late).toEqual(t.events);
  expect(t.transcripts[0]!.content.events.filter((e) => e.type === "tokens")).toEqual([{ type: "tokens", data: { from: 0, t: Array.from({ length: 21 }, (_, i) => `w${i}`) } }]);
});
