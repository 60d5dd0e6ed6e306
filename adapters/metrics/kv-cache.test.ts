// kv_cache_usage_ratio on both processes: the control plane's gauge per replica from heartbeated
// snapshots (online nodes only, gone with the node or the pool), and the node's per pool.

import { expect, test } from "bun:test";
import { createControlMetrics, parseExposition } from "./control.ts";
import { fleetGauges, type FleetNode } from "./fleet.ts";
import { createNodeApp } from "../http/node-app.ts";
import type { PoolView } from "../../contract/index.ts";

const pool = (extra: Partial<PoolView> = {}): PoolView => ({
  pool_id: "p0", ready: true, draining: false, engine: "llamacpp", engine_version: "b1", replica_id: "replica-0", slots_total: 2, slots_free: 2, models_available: ["m"], ...extra,
});
const kv = async (text: string | Promise<string>) =>
  parseExposition(await text)
    .samples.filter((s) => s.name === "kv_cache_usage_ratio")
    .map((s): Record<string, string | number> => ({ ...s.labels, value: s.value }));

test("control plane: one series per replica that reports, none for an offline node, gone with the node", async () => {
  const metrics = createControlMetrics();
  const fleet = fleetGauges(metrics);
  const node = (extra: Partial<FleetNode> = {}): FleetNode => ({ node_id: "n1", online: true, pools: [pool({ kv_cache_usage_ratio: 0.75 }), pool({ pool_id: "p1" })], ...extra });
  fleet.update([node()]);
  expect(await kv(metrics.registry.metrics())).toEqual([{ engine: "llamacpp", engine_version: "b1", pool_id: "p0", replica_id: "replica-0", node_id: "n1", value: 0.75 }]);
  fleet.update([node({ pools: [pool({ kv_cache_usage_ratio: 0.1 })] })]);
  expect((await kv(metrics.registry.metrics())).map((s) => s.value)).toEqual([0.1]);
  // A lost node's figure is stale: no series while it is offline.
  fleet.update([node({ online: false })]);
  expect(await kv(metrics.registry.metrics())).toEqual([]);
  fleet.update([node()]);
  expect((await kv(metrics.registry.metrics())).length).toBe(1);
  fleet.update([]);
  expect(await kv(metrics.registry.metrics())).toEqual([]);
});

test("node: a per-pool gauge from the snapshot; none for a pool whose engine does not say", async () => {
  let pools = [pool({ kv_cache_usage_ratio: 0.5 }), pool({ pool_id: "p1" })];
  const app = createNodeApp({ source: { status: async () => ({ node_id: "n1", connected: true, registered: true, pools }) }, version: "test" });
  expect(await kv((await app.request("/metrics")).text())).toEqual([{ node_id: "n1", pool_id: "p0", value: 0.5 }]);
  pools = [pool()];
  expect(await kv((await app.request("/metrics")).text())).toEqual([]);
});
