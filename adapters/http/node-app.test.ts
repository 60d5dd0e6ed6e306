// The node's ops HTTP as a scraper and an operator see it: /metrics carries every node series with
// the pool gauges of the current snapshots, the status route reports live apart from ready, and
// /v2 needs the token.

import { expect, test } from "bun:test";
import { checkExposition, createNodeMetrics, parseExposition, REQUIRED_NODE_SERIES } from "../metrics/index.ts";
import { createNodeApp, type NodeStatusSource } from "./node-app.ts";
import type { PoolView } from "../../contract/index.ts";

const TOKEN = "node-app-test-token-0123456789";
const auth = { authorization: `Bearer ${TOKEN}` };

function pool(extra: Partial<PoolView> & { live?: boolean } = {}): PoolView & { live?: boolean } {
  return { pool_id: "p0", ready: true, draining: false, engine: "mock", slots_total: 4, slots_free: 3, models_available: ["tiny"], ...extra };
}

function source(pools: Array<PoolView & { live?: boolean }>): NodeStatusSource {
  return { status: async () => ({ node_id: "n1", connected: true, registered: true, pools }) };
}

const value = (text: string, name: string, labels: Record<string, string>) =>
  parseExposition(text).samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

test("/metrics serves the node registry: pool gauges from snapshots, GPU series set elsewhere, all conforming", async () => {
  const metrics = createNodeMetrics();
  metrics.gpuUtilization.set({ node_id: "n1", device: 0 }, 42);
  const app = createNodeApp({
    source: source([pool({ vram_total_bytes: 24e9, vram_free_bytes: 20e9 }), pool({ pool_id: "p1", ready: false, slots_total: 1, slots_free: 1 })]),
    version: "test",
    token: TOKEN,
    metrics,
  });
  const res = await app.request("/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  const text = await res.text();
  expect(checkExposition(text, REQUIRED_NODE_SERIES)).toEqual([]);
  for (const spec of REQUIRED_NODE_SERIES) expect(text).toContain(`# TYPE ${spec.name} ${spec.type}\n`);
  expect(value(text, "pool_ready", { node_id: "n1", pool_id: "p0" })).toBe(1);
  expect(value(text, "pool_ready", { node_id: "n1", pool_id: "p1" })).toBe(0);
  expect(value(text, "pool_slots_free", { pool_id: "p0" })).toBe(3);
  expect(value(text, "pool_vram_total_bytes", { pool_id: "p0" })).toBe(24e9);
  expect(value(text, "pool_vram_free_bytes", { pool_id: "p0" })).toBe(20e9);
  // A pool without VRAM figures (CPU) gets no VRAM sample rather than a made-up 0.
  expect(value(text, "pool_vram_total_bytes", { pool_id: "p1" })).toBeUndefined();
  expect(value(text, "gpu_utilization", { node_id: "n1", device: "0" })).toBe(42);
});

test("/metrics without a registry passed in still serves every series", async () => {
  const res = await createNodeApp({ source: source([pool()]), version: "test" }).request("/metrics");
  expect(checkExposition(await res.text(), REQUIRED_NODE_SERIES)).toEqual([]);
});

test("pool status reports live from the snapshot, leases from slots and engine_version null when unknown", async () => {
  const app = createNodeApp({ source: source([pool({ ready: false, draining: true, live: true, slots_free: 1 })]), version: "test", token: TOKEN });
  const res = await app.request("/v2/pools/p0/status", { headers: auth });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ pool_id: "p0", live: true, ready: false, draining: true, active_leases: 3, engine_version: null, slots_total: 4 });
});

test("pool status falls back to ready for live when the snapshot does not say", async () => {
  const app = createNodeApp({ source: source([pool({ engine_version: "mock-1" })]), version: "test", token: TOKEN });
  expect(await (await app.request("/v2/pools/p0/status", { headers: auth })).json()).toMatchObject({ live: true, ready: true, engine_version: "mock-1" });
});

test("unknown pool is 404 NOT_FOUND; /v2 without or with a wrong token is 401; /health is open", async () => {
  const app = createNodeApp({ source: source([pool()]), version: "9.9.9", token: TOKEN });
  const missing = await app.request("/v2/pools/nope/status", { headers: auth });
  expect(missing.status).toBe(404);
  expect(await missing.json()).toMatchObject({ code: "NOT_FOUND", message: expect.stringContaining("nope") });
  const noToken = await app.request("/v2/pools/p0/status");
  expect(noToken.status).toBe(401);
  expect(await noToken.json()).toMatchObject({ code: "MISSING_TOKEN" });
  const wrong = await app.request("/v2/pools/p0/status", { headers: { authorization: "Bearer not-the-right-token-at-all" } });
  expect(await wrong.json()).toMatchObject({ code: "BAD_TOKEN" });
  const health = await app.request("/health");
  expect(await health.json()).toEqual({ status: "ok", version: "9.9.9" });
});

test("/ready is 503 until registered with every pool ready", async () => {
  const unready = createNodeApp({ source: source([pool(), pool({ pool_id: "p1", ready: false, last_error: "no GPU" })]), version: "t" });
  const res = await unready.request("/ready");
  expect(res.status).toBe(503);
  expect(await res.json()).toMatchObject({ ready: false, pools: [{ pool_id: "p0", ready: true }, { pool_id: "p1", ready: false, last_error: "no GPU" }] });
  expect((await createNodeApp({ source: source([pool()]), version: "t" }).request("/ready")).status).toBe(200);
});

test("pool VRAM comes from the NVML sample of the pool's devices; a pool that left loses its series", async () => {
  const gpus = [
    { index: 0, name: "a", vram_total_bytes: 24e9, vram_free_bytes: 4e9 },
    { index: 1, name: "b", vram_total_bytes: 16e9, vram_free_bytes: 10e9 },
  ];
  let pools = [pool({ devices: [0, 1] }), pool({ pool_id: "cpu" })];
  const app = createNodeApp({ source: { status: async () => ({ node_id: "n1", connected: true, registered: true, pools, gpus }) }, version: "test", token: TOKEN });
  let text = await (await app.request("/metrics")).text();
  expect(value(text, "pool_vram_total_bytes", { pool_id: "p0" })).toBe(40e9);
  expect(value(text, "pool_vram_free_bytes", { pool_id: "p0" })).toBe(14e9);
  expect(value(text, "pool_vram_total_bytes", { pool_id: "cpu" })).toBeUndefined();
  expect(value(text, "pool_ready", { pool_id: "cpu" })).toBe(1);

  pools = [pool({ devices: [0, 1] })];
  text = await (await app.request("/metrics")).text();
  expect(parseExposition(text).samples.filter((s) => s.labels.pool_id === "cpu")).toEqual([]);
  expect(value(text, "pool_ready", { pool_id: "p0" })).toBe(1);
});
