// Pools control against an in-process cluster: /v2/pools/{id}/health, drain, reload and preload are
// forwarded to the nodes over the node link and act on real (mock) engines.

import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MockEngine } from "../../adapters/engines/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { events, getJsonStatus, listedPool, nodeSystem, postJson, readUntil, whenEvent } from "../harness/pools.ts";
import { collect, submitTask } from "../harness/sse.ts";

const dir = mkdtempSync(join(tmpdir(), "pools-control-"));
const modelFile = join(dir, "next.gguf");
writeFileSync(modelFile, "GGUF");
const missing = join(dir, "absent", "model.gguf");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const pools = (id: string, op: string) => `${cluster!.url}/v2/pools/${id}/${op}`;
const tokens = (frames: { event: string }[]) => frames.filter((f) => f.event === "token").length;

test("health gathers every node's view of the pool; an unknown pool is 404", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { slots: 2 })] }, { id: "n2", pools: [mockPool("p0")] }] });
  await cluster.ready();
  const all = await getJsonStatus(pools("p0", "health"));
  expect(all.status).toBe(200);
  expect(all.json).toMatchObject({
    pool_id: "p0",
    live: true,
    ready: true,
    draining: false,
    metrics: { active_leases: 0, slots_free: 3, slots_total: 3 },
    engine_version: "mock-1",
    models_available: ["tiny"],
  });
  expect(all.json.last_error).toBeUndefined();
  expect(all.json.nodes.map((n: any) => [n.node_id, n.live, n.ready, n.slots_total])).toEqual([
    ["n1", true, true, 2],
    ["n2", true, true, 1],
  ]);

  const one = await getJsonStatus(`${pools("p0", "health")}?node_id=n2`);
  expect(one.json.nodes.map((n: any) => n.node_id)).toEqual(["n2"]);
  expect(one.json.metrics.slots_total).toBe(1);

  for (const url of [pools("nope", "health"), `${pools("p0", "health")}?node_id=n9`]) {
    const res = await getJsonStatus(url);
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ code: "NOT_FOUND", message: expect.any(String) });
  }
});

test("drain: 202 at once, listed as draining, new tasks go elsewhere, in-flight work finishes, then the engine stops", async () => {
  cluster = await startCluster({
    nodes: [
      { id: "n1", pools: [mockPool("pa", "tiny", { mock: { token_delay_ms: 10 } })] },
      { id: "n2", pools: [mockPool("pb", "tiny", { mock: { token_delay_ms: 1 } })] },
    ],
  });
  await cluster.ready();
  const first = await submitTask(cluster.url, { model_ref: "tiny", prompt: "long", max_tokens: 30 });
  const stream = await readUntil(`${cluster.url}${first.json.streams.sse}`, (f) => tokens(f) >= 1);
  expect(stream.frames[0]!.data).toMatchObject({ node_id: "n1", pool_id: "pa" });

  const engineStopped = whenEvent(nodeSystem(cluster, "n1"), (e) => e.type === "stopped" && e.path === "node/pool-pa/replica-0");
  const drain = await postJson(pools("pa", "drain"), { deadline_ms: 30_000 });
  expect(drain.status).toBe(202);
  expect(drain.json).toEqual({ pool_id: "pa", draining: true, deadline_ms: 30_000, nodes: [{ node_id: "n1", draining: true, already: false, active_leases: 1 }] });
  expect(await listedPool(cluster, "n1", "pa")).toMatchObject({ draining: true, ready: false });

  const second = await submitTask(cluster.url, { model_ref: "tiny", prompt: "elsewhere", max_tokens: 3 });
  expect(second.status).toBe(202);
  const elsewhere = await collect(`${cluster.url}${second.json.streams.sse}`);
  expect(elsewhere.frames[0]!.data).toMatchObject({ node_id: "n2", pool_id: "pb" });
  expect(events(elsewhere.frames).at(-1)).toBe("end");

  const finished = await stream.rest();
  expect(events(finished).at(-1)).toBe("end");
  expect(finished.at(-1)!.data).toMatchObject({ tokens_out: 30 });
  await engineStopped;
  const health = await getJsonStatus(pools("pa", "health"));
  expect(health.json).toMatchObject({ live: false, ready: false, draining: true, metrics: { active_leases: 0 } });
  const metrics = await (await fetch(`${cluster.url}/metrics`)).text();
  expect(metrics).toContain('drain_events_total{pool_id="pa",reason="api_request"} 1');
});

test("drain deadline: what still runs ends with a retriable error, new work queues, and a reload brings the pool back", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { mock: { token_delay_ms: 5, hang_after_tokens: 2 } })] }] });
  await cluster.ready();
  const stuck = await submitTask(cluster.url, { model_ref: "tiny", prompt: "stuck", max_tokens: 50 });
  const stream = await readUntil(`${cluster.url}${stuck.json.streams.sse}`, (f) => tokens(f) >= 2);

  const drain = await postJson(pools("p0", "drain"), { deadline_ms: 150 });
  expect(drain.status).toBe(202);
  // Two tokens: this engine hangs only after its second.
  const queued = await submitTask(cluster.url, { model_ref: "tiny", prompt: "waits", max_tokens: 2 });
  expect(queued.status).toBe(202);
  const queuedStream = readUntil(`${cluster.url}${queued.json.streams.sse}`, () => false).then((s) => s.frames);

  const ended = await stream.rest();
  expect(events(ended)).toEqual(["started", "token", "token", "error"]);
  expect(ended.at(-1)!.data).toMatchObject({ code: "POOL_UNAVAILABLE", retriable: true, pool_id: "p0" });
  expect(ended.at(-1)!.data.message).toContain("drain deadline");
  expect((await getJsonStatus(pools("p0", "health"))).json).toMatchObject({ live: false, ready: false, draining: true });

  // The queued task has not started; once the pool is reloaded it runs there.
  const reload = await postJson(pools("p0", "reload"), { new_model_ref: "tiny" });
  expect(reload.status).toBe(200);
  expect(reload.json).toMatchObject({ pool_id: "p0", success: true, rolled_back: false, new_engine_version: "mock-1", model: "tiny" });
  const frames = await queuedStream;
  expect(events(frames)[0]).toBe("started");
  expect(events(frames).at(-1)).toBe("end");
  expect(await listedPool(cluster, "n1", "p0")).toMatchObject({ ready: true, draining: false });
});

test("reload swaps the model: 200, the new model is listed and serves, the old one is gone", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0")] }] });
  await cluster.ready();
  const res = await postJson(pools("p0", "reload"), { new_model_ref: modelFile });
  expect(res.status).toBe(200);
  expect(res.json).toMatchObject({ pool_id: "p0", success: true, rolled_back: false, new_engine_version: "mock-1", model: modelFile });
  expect(typeof res.json.duration_ms).toBe("number");
  expect(res.json.nodes).toEqual([expect.objectContaining({ node_id: "n1", success: true, previous_model: "tiny", model: modelFile })]);
  expect(await listedPool(cluster, "n1", "p0")).toMatchObject({ ready: true, draining: false, models_available: [modelFile] });

  const task = await submitTask(cluster.url, { model_ref: modelFile, prompt: "new model", max_tokens: 4 });
  expect(task.status).toBe(202);
  const s = await collect(`${cluster.url}${task.json.streams.sse}`);
  expect(events(s.frames).at(-1)).toBe("end");
  expect(s.frames.at(-1)!.data.tokens_out).toBe(4);
  expect((await submitTask(cluster.url, { model_ref: "tiny", prompt: "old", max_tokens: 1 })).status).toBe(503);
});

test("a reload whose engine cannot start is rolled back: 409 rolled_back, the old model still serves", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0")] }] });
  await cluster.ready();
  const res = await postJson(pools("p0", "reload"), { new_model_ref: missing });
  expect(res.status).toBe(409);
  expect(res.json).toMatchObject({ code: "POOL_UNREADY", rolled_back: true, pool_id: "p0" });
  expect(res.json.message).toContain("does not exist");
  expect(res.json.nodes).toEqual([expect.objectContaining({ node_id: "n1", success: false, rolled_back: true, model: "tiny" })]);
  expect(await listedPool(cluster, "n1", "p0")).toMatchObject({ ready: true, draining: false, models_available: ["tiny"] });

  const task = await submitTask(cluster.url, { model_ref: "tiny", prompt: "still here", max_tokens: 3 });
  const s = await collect(`${cluster.url}${task.json.streams.sse}`);
  expect(events(s.frames).at(-1)).toBe("end");
});

test("a failure on the second node puts the first back: the pool ends on one model", async () => {
  let made = 0;
  cluster = await startCluster({
    nodes: ["n1", "n2"].map((id) => ({ id, pools: [mockPool("p0")] })),
    // The first engine for the new model loads; the second (on n2) finds no file.
    engineFactory: (pool, _r, clock) => new MockEngine({ clock, model: pool.model === modelFile && ++made > 1 ? missing : pool.model }),
  });
  await cluster.ready();
  const res = await postJson(pools("p0", "reload"), { new_model_ref: modelFile });
  expect(res.status).toBe(409);
  expect(res.json).toMatchObject({ code: "POOL_UNREADY", rolled_back: true });
  expect(res.json.nodes.map((n: any) => [n.node_id, n.success, n.rolled_back, n.model])).toEqual([
    ["n1", false, true, "tiny"],
    ["n2", false, true, "tiny"],
  ]);
  for (const n of ["n1", "n2"]) expect(await listedPool(cluster, n, "p0")).toMatchObject({ ready: true, models_available: ["tiny"] });
});

test("a reload or drain while a reload runs is 409; the first reload still completes", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { mock: { token_delay_ms: 10 } })] }] });
  await cluster.ready();
  const busy = await submitTask(cluster.url, { model_ref: "tiny", prompt: "busy", max_tokens: 20 });
  const stream = await readUntil(`${cluster.url}${busy.json.streams.sse}`, (f) => tokens(f) >= 1);
  const reloading = whenEvent(nodeSystem(cluster, "n1"), (e) => e.type === "delivered" && e.path === "node/pool-p0/manager" && e.msg === "reload");
  const first = postJson(pools("p0", "reload"), { new_model_ref: modelFile, deadline_ms: 10_000 });
  await reloading;

  const again = await postJson(pools("p0", "reload"), { new_model_ref: "other" });
  expect(again.status).toBe(409);
  expect(again.json).toMatchObject({ code: "POOL_UNAVAILABLE", rolled_back: false, retriable: true });
  const drain = await postJson(pools("p0", "drain"), { deadline_ms: 0 });
  expect(drain.status).toBe(409);
  expect(drain.json).toMatchObject({ code: "POOL_UNAVAILABLE" });

  expect(events(await stream.rest()).at(-1)).toBe("end");
  const done = await first;
  expect(done.status).toBe(200);
  expect(done.json.model).toBe(modelFile);
});

test("bad bodies are 400 INVALID_PARAMS; unknown pools are 404 for drain and reload", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0")] }] });
  await cluster.ready();
  const cases: [string, unknown, string][] = [
    ["drain", {}, "deadline_ms"],
    ["drain", { deadline_ms: -1 }, "deadline_ms"],
    ["drain", { deadline_ms: 1.5 }, "deadline_ms"],
    ["drain", { deadline_ms: 10, extra: true }, ""],
    ["drain", "{not json", "JSON"],
    ["reload", {}, "new_model_ref"],
    ["reload", { new_model_ref: "" }, "new_model_ref"],
    ["reload", { new_model_ref: "x", surprise: 1 }, ""],
  ];
  for (const [op, body, mentions] of cases) {
    const res = await postJson(pools("p0", op), body);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining(mentions) });
  }
  expect((await postJson(pools("nope", "drain"), { deadline_ms: 0 })).status).toBe(404);
  expect((await postJson(pools("nope", "reload"), { new_model_ref: "x" })).json).toMatchObject({ code: "NOT_FOUND" });
  // Nothing above touched the pool.
  expect(await listedPool(cluster, "n1", "p0")).toMatchObject({ ready: true, draining: false, models_available: ["tiny"] });
});

test("preload: a drained pool comes back (empty body) and a queued task runs there; a ready pool answers already", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0")] }] });
  await cluster.ready();
  const stopped = whenEvent(nodeSystem(cluster, "n1"), (e) => e.type === "stopped" && e.path === "node/pool-p0/replica-0");
  expect((await postJson(pools("p0", "drain"), { deadline_ms: 0 })).status).toBe(202);
  await stopped;
  expect((await getJsonStatus(pools("p0", "health"))).json).toMatchObject({ live: false, ready: false, draining: true });
  const queued = await submitTask(cluster.url, { model_ref: "tiny", prompt: "waits for the preload", max_tokens: 3 });
  expect(queued.status).toBe(202);

  const res = await fetch(pools("p0", "preload"), { method: "POST" });
  expect(res.status).toBe(200);
  const body = (await res.json()) as any;
  expect(body).toMatchObject({ pool_id: "p0", ready: true, nodes: [{ node_id: "n1", ready: true, already: false, model: "tiny", engine_version: "mock-1" }] });
  expect(typeof body.duration_ms).toBe("number");
  expect(await listedPool(cluster, "n1", "p0")).toMatchObject({ ready: true, draining: false });
  const frames = (await collect(`${cluster.url}${queued.json.streams.sse}`)).frames;
  expect(events(frames)).toEqual(["started", "token", "token", "token", "end"]);
  expect(frames[0]!.data).toMatchObject({ node_id: "n1", pool_id: "p0" });

  const again = await postJson(pools("p0", "preload"), {});
  expect(again.status).toBe(200);
  expect(again.json.nodes).toEqual([expect.objectContaining({ node_id: "n1", ready: true, already: true, duration_ms: 0 })]);
});

test("a preload whose engine cannot start is 503 POOL_UNREADY 'preload failed'; the pool stays drained", async () => {
  let made = 0;
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0")] }],
    // The first engine loads; the one the preload starts finds no model file.
    engineFactory: (pool, _r, clock) => new MockEngine({ clock, model: ++made > 1 ? missing : pool.model }),
  });
  await cluster.ready();
  const stopped = whenEvent(nodeSystem(cluster, "n1"), (e) => e.type === "stopped" && e.path === "node/pool-p0/replica-0");
  await postJson(pools("p0", "drain"), { deadline_ms: 0 });
  await stopped;
  const res = await postJson(pools("p0", "preload"), { node_id: "n1" });
  expect(res.status).toBe(503);
  expect(res.json).toMatchObject({ code: "POOL_UNREADY", retriable: true, pool_id: "p0" });
  expect(res.json.message).toStartWith("preload failed: ");
  expect(res.json.message).toContain("does not exist");
  expect(res.json.nodes).toEqual([expect.objectContaining({ node_id: "n1", ready: false, model: "tiny" })]);
  const health = (await getJsonStatus(pools("p0", "health"))).json;
  expect(health).toMatchObject({ live: false, ready: false, draining: true });
  expect(health.last_error).toStartWith("preload failed: ");
  expect(await listedPool(cluster, "n1", "p0")).toMatchObject({ ready: false, draining: true });
});

test("preload while a reload runs is 409; bad bodies are 400; unknown pools and nodes are 404", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { mock: { token_delay_ms: 10 } })] }] });
  await cluster.ready();
  for (const [body, mentions] of [[{ surprise: 1 }, ""], ["{not json", "JSON"], [{ node_id: "" }, "node_id"]] as const) {
    const res = await postJson(pools("p0", "preload"), body);
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining(mentions) });
  }
  expect((await postJson(pools("nope", "preload"), {})).json).toMatchObject({ code: "NOT_FOUND" });
  expect((await postJson(pools("p0", "preload"), { node_id: "n9" })).status).toBe(404);

  const busy = await submitTask(cluster.url, { model_ref: "tiny", prompt: "busy", max_tokens: 20 });
  const stream = await readUntil(`${cluster.url}${busy.json.streams.sse}`, (f) => tokens(f) >= 1);
  const reloading = whenEvent(nodeSystem(cluster, "n1"), (e) => e.type === "delivered" && e.path === "node/pool-p0/manager" && e.msg === "reload");
  const reload = postJson(pools("p0", "reload"), { new_model_ref: modelFile, deadline_ms: 10_000 });
  await reloading;
  const refused = await postJson(pools("p0", "preload"), {});
  expect(refused.status).toBe(409);
  expect(refused.json).toMatchObject({ code: "POOL_UNAVAILABLE", retriable: true, message: "pool p0 is busy: a reload is under way" });
  expect(events(await stream.rest()).at(-1)).toBe("end");
  expect((await reload).status).toBe(200);
});
