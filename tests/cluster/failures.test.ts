// Engine failures reach the client as SSE `error` frames and the pool recovers.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect, submitTask, getJson } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

test("an engine that crashes mid-stream gives WORKER_RESET, restarts, and serves again", async () => {
  let made = 0;
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0")] }],
    // The first engine crashes after 3 tokens; the restarted one is healthy.
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, faults: made++ === 0 ? { crashAfterTokens: 3 } : {} }),
  });
  await cluster.ready();
  const a = await submitTask(cluster.url, { model_ref: "tiny", prompt: "crash", max_tokens: 50 });
  const s = await collect(`${cluster.url}${a.json.streams.sse}`);
  expect(s.frames.map((f) => f.event)).toEqual(["started", "token", "token", "token", "error"]);
  expect(s.frames.at(-1)!.data).toMatchObject({ code: "WORKER_RESET", retriable: true, pool_id: "p0" });

  // The replica restarts with backoff and the same pool serves the next task.
  const b = await submitTask(cluster.url, { model_ref: "tiny", prompt: "again", max_tokens: 4 });
  expect(b.status).toBe(202);
  const t = await collect(`${cluster.url}${b.json.streams.sse}`);
  expect(t.frames.at(-1)!.event).toBe("end");
  expect(t.frames.at(-1)!.data.tokens_out).toBe(4);
  expect(made).toBe(2);
});

test("a request the engine fails ends with an error frame and leaves the engine up", async () => {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { mock: { fail_after_tokens: 2 } })] }],
  });
  await cluster.ready();
  const a = await submitTask(cluster.url, { model_ref: "tiny", prompt: "x", max_tokens: 10 });
  const s = await collect(`${cluster.url}${a.json.streams.sse}`);
  expect(s.frames.map((f) => f.event)).toEqual(["started", "token", "token", "error"]);
  expect(s.frames.at(-1)!.data).toMatchObject({ code: "INTERNAL", engine: "mock" });
  const nodes = await getJson(`${cluster.url}/v2/nodes`);
  expect(nodes.nodes[0].pools[0].ready).toBe(true);
});
