// The REST mirror of the node link: register, heartbeat, list, deregister, with a
// token. A node registered over REST is listed (linked:false) but never given a task.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { submitTask } from "../harness/sse.ts";

const TOKEN = "rest-mirror-token-0123456789";
const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

test("register, heartbeat, list and deregister over REST", async () => {
  cluster = await startCluster({
    token: TOKEN,
    nodes: [{ id: "linked", pools: [mockPool("p0")] }],
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 1 }),
  });
  await cluster.ready();
  const base = cluster.url;
  const post = (path: string, body: unknown, headers: Record<string, string> = auth) => fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });

  expect((await post("/v2/nodes/register", { node_id: "tool" }, { "content-type": "application/json" })).status).toBe(401);
  const bad = await post("/v2/nodes/register", { node_id: "", pools: [] });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as any).code).toBe("INVALID_PARAMS");

  const reg = await post("/v2/nodes/register", {
    node_id: "gpu-node-1",
    machine_id: "machine-alpha",
    address: "http://192.168.1.100:9200",
    pools: ["pool-0", { pool_id: "pool-1", ready: true, slots_total: 2, slots_free: 2, models_available: ["rest-only-model"] }],
    capabilities: { gpus: [{ index: 0, name: "RTX 3090", vram_total_bytes: 24_000_000_000, compute_capability: "8.6" }], cpu_cores: 16 },
    version: "0.1.0",
  });
  expect(reg.status).toBe(200);
  expect(await reg.json()).toEqual({ success: true, message: "Registered successfully", node_id: "gpu-node-1" });

  const hb = await post("/v2/nodes/gpu-node-1/heartbeat", {
    timestamp: new Date().toISOString(),
    pools: [{ pool_id: "pool-1", ready: true, draining: false, slots_free: 1, slots_total: 2, vram_free_bytes: 1000, models_available: ["rest-only-model"] }],
    gpus: [{ index: 0, name: "RTX 3090", vram_total_bytes: 24_000_000_000, vram_free_bytes: 20_000_000_000, utilization_gpu_percent: 37 }],
  });
  expect(hb.status).toBe(200);
  expect(((await hb.json()) as any).success).toBe(true);
  expect((await post("/v2/nodes/ghost/heartbeat", { pools: [] })).status).toBe(404);

  const list = (await (await fetch(`${base}/v2/nodes`, { headers: auth })).json()) as any;
  expect(list.count).toBe(2);
  const rest = list.nodes.find((n: { node_id: string }) => n.node_id === "gpu-node-1");
  expect(rest).toMatchObject({ machine_id: "machine-alpha", linked: false, status: "Online", version: "0.1.0" });
  expect(rest.capabilities.gpus[0]).toMatchObject({ name: "RTX 3090", vram_free_bytes: 20_000_000_000, utilization_gpu_percent: 37 });
  expect(list.nodes.find((n: { node_id: string }) => n.node_id === "linked")).toMatchObject({ linked: true });
  // A REST registration may not take over a node that is connected over its link.
  const takeover = await post("/v2/nodes/register", { node_id: "linked", pools: [] });
  expect(takeover.status).toBe(400);
  expect(((await takeover.json()) as any).message).toContain("node link");
  const caps = (await (await fetch(`${base}/v2/meta/capabilities`, { headers: auth })).json()) as any;
  expect(caps.engines.map((e: { engine: string }) => e.engine)).toEqual(["mock"]); // the REST node's pools serve nothing

  // Its model is listed as available, but no task can go to a node without a link.
  const task = await submitTask(base, { model_ref: "rest-only-model", max_tokens: 1 }, { authorization: auth.authorization });
  expect(task.status).toBe(503);
  expect(task.json.code).toBe("MODEL_NOT_AVAILABLE");

  expect((await fetch(`${base}/v2/nodes/gpu-node-1`, { method: "DELETE", headers: auth })).status).toBe(204);
  expect((await fetch(`${base}/v2/nodes/gpu-node-1`, { method: "DELETE", headers: auth })).status).toBe(404);
  expect(((await (await fetch(`${base}/v2/nodes`, { headers: auth })).json()) as any).count).toBe(1);
});
