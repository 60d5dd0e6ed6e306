// The replica relays an engine's stream to its task: tokens the engine marks `more` (they arrived
// in the same read) travel together as one `engine-tokens` message, and nothing is held past the
// burst: a token without `more`, the end, or a failure sends what is held first, in order.

import { afterEach, expect, test } from "bun:test";
import { ActorSystem, createLogger, SimClock, type ActorRef } from "../../../runtime/index.ts";
import { EngineError, type EngineAdapter, type EngineEvent } from "../../../adapters/engines/index.ts";
import type { TaskEngineMsg, TaskSinkRef } from "../../../contract/link.ts";
import type { PoolRef } from "../pool/protocol.ts";
import { replica } from "./replica.ts";
import type { ReplicaMsg } from "./protocol.ts";

let system: ActorSystem | undefined;
afterEach(async () => {
  await system?.shutdown();
  system = undefined;
});

/** An engine that plays `script` for every request, then throws `failWith` if given. */
function scripted(script: EngineEvent[], failWith?: EngineError): EngineAdapter {
  return {
    engine: "scripted",
    version: () => "scripted-1",
    health: async () => ({ live: true, ready: true }),
    props: async () => ({ slots_total: 1 }),
    async *submit() {
      for (const ev of script) yield ev;
      if (failWith) throw failWith;
    },
    cancel: async () => undefined,
    close: async () => undefined,
  };
}

async function relay(script: EngineEvent[], failWith?: EngineError): Promise<TaskEngineMsg[]> {
  const clock = new SimClock(0);
  system = new ActorSystem({ name: "replica-test", clock, random: () => 0.5 });
  const pool = (await system.spawn("node/pool-p0/manager", () => ({ receive: () => undefined }))) as unknown as PoolRef;
  const got: TaskEngineMsg[] = [];
  const sink = (await system.spawn<TaskEngineMsg>("test/sink", () => ({ receive: (m) => void got.push(m) }))) as ActorRef<TaskEngineMsg> as TaskSinkRef;
  const ref = (await system.spawn<ReplicaMsg>(
    "node/pool-p0/replica-0",
    replica({ nodeId: "n1", poolId: "p0", replicaId: "replica-0", pool, engine: () => scripted(script, failWith), log: createLogger({ clock, sink: () => {} }), healthIntervalMs: 60_000 }),
  )) as ActorRef<ReplicaMsg>;
  await clock.flush();
  ref.tell({ type: "submit", task_id: "t1", request: { task_id: "t1", prompt: "p", max_tokens: 10 }, sink });
  await clock.flush();
  return got;
}

const tok = (t: string, i: number, more?: boolean): EngineEvent => ({ type: "token", t, i, ...(more ? { more } : {}) });

test("a burst marked `more` is one engine-tokens message; a lone token stays an engine-token", async () => {
  const got = await relay([
    { type: "started", engine_version: "scripted-1" },
    tok("a", 0, true),
    tok("b", 1, true),
    tok("c", 2),
    tok("d", 3),
    tok("e", 4, true),
    { type: "end", tokens_out: 5, decode_ms: 1, stop_reason: "length" },
  ]);
  expect(got.map((m) => m.type)).toEqual(["engine-started", "engine-tokens", "engine-token", "engine-token", "engine-end"]);
  expect(got[1]).toEqual({ type: "engine-tokens", from: 0, t: ["a", "b", "c"] });
  expect(got[2]).toEqual({ type: "engine-token", t: "d", i: 3 });
  expect(got[3]).toEqual({ type: "engine-token", t: "e", i: 4 }); // held, then sent before the end
});

test("held tokens go out before a failure, and a gap in the indexes starts a new message", async () => {
  const got = await relay([{ type: "started", engine_version: "scripted-1" }, tok("a", 0, true), tok("b", 1, true), tok("z", 7, true)], new EngineError("WORKER_RESET", "connection lost"));
  expect(got.map((m) => m.type)).toEqual(["engine-started", "engine-tokens", "engine-token", "engine-error"]);
  expect(got[1]).toEqual({ type: "engine-tokens", from: 0, t: ["a", "b"] });
  expect(got[2]).toEqual({ type: "engine-token", t: "z", i: 7 });
  expect(got[3]).toMatchObject({ type: "engine-error", error: { code: "WORKER_RESET" } });
});

test("a burst longer than the batch limit is cut", async () => {
  const burst = Array.from({ length: 600 }, (_, i) => tok(`w${i}`, i, i < 599));
  const got = await relay([{ type: "started", engine_version: "scripted-1" }, ...burst, { type: "end", tokens_out: 600, decode_ms: 1, stop_reason: "length" }]);
  const batches = got.filter((m): m is Extract<TaskEngineMsg, { type: "engine-tokens" }> => m.type === "engine-tokens");
  expect(batches.map((b) => [b.from, b.t.length])).toEqual([[0, 256], [256, 256], [512, 88]]);
  expect(batches.flatMap((b) => b.t)).toEqual(burst.map((e) => (e as { t: string }).t));
});
