// Pools report the engine's context (its props) when the pools file sets none, and admission holds
// tasks to it: a ctx beyond it is 400 INVALID_PARAMS at once; a task admitted while its pool was
// still starting (its context not known yet) ends with the same error once the pool reports it.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect, getJson, submitTask } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

test("the engine's ctx_max is the pool's; the pools file's ctx wins over it", async () => {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("engine-ctx"), mockPool("file-ctx", "other", { ctx: 1000 })] }],
    engineFactory: (_pool, _r, clock) => new MockEngine({ clock, slots: 1, ctxMax: 4096 }),
  });
  await cluster.ready();
  const pools = ((await getJson(`${cluster.url}/v2/nodes`)).nodes[0].pools as { pool_id: string; ctx_max?: number }[]).map((p) => [p.pool_id, p.ctx_max]);
  expect(Object.fromEntries(pools)).toEqual({ "engine-ctx": 4096, "file-ctx": 1000 });

  const tooLong = await submitTask(cluster.url, { model_ref: "tiny", prompt: "x", ctx: 10_000_000, max_tokens: 2 });
  expect(tooLong.status).toBe(400);
  expect(tooLong.json).toMatchObject({ code: "INVALID_PARAMS", message: "ctx 10000000 exceeds ctx_max 4096 of every pool serving model 'tiny'" });
  expect((await submitTask(cluster.url, { model_ref: "tiny", prompt: "x", ctx: 4096, max_tokens: 2 })).status).toBe(202);
});

test("a task queued while its pool started, asking for more than the engine then reports, ends with INVALID_PARAMS", async () => {
  let engine: MockEngine | undefined;
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0")] }],
    engineFactory: (_pool, _r, clock) => (engine = new MockEngine({ clock, slots: 1, ctxMax: 4096, faults: { unready: true } })),
    node: { healthIntervalMs: 20 },
  });
  const c = cluster;
  // The node is online with its pool not ready: no context known yet, so the task waits.
  await new Promise<void>((resolve) => {
    const check = async () => ((await getJson(`${c.url}/v2/nodes`)).nodes as unknown[]).length === 1;
    const off = c.control.plane.system.events.on((e) => {
      if (e.type === "delivered" && e.path === "control/registry") void check().then((ok) => ok && (off(), resolve()));
    });
    void check().then((ok) => ok && (off(), resolve()));
  });
  const queued = await submitTask(c.url, { model_ref: "tiny", prompt: "x", ctx: 100_000, max_tokens: 2 });
  expect(queued.status).toBe(202);
  engine!.faults.unready = false;
  const frames = (await collect(`${c.url}${queued.json.streams.sse}`)).frames;
  expect(frames.map((f) => f.event)).toEqual(["error"]);
  expect(frames[0]!.data).toMatchObject({ code: "INVALID_PARAMS", message: "ctx 100000 exceeds ctx_max 4096 of every pool serving model 'tiny'" });
});
