// buildAvailability: both response shapes from one node list.

import { expect, test } from "bun:test";
import type { NodeInfo, PoolView } from "../../../contract/index.ts";
import { buildAvailability } from "./availability.ts";

const pool = (pool_id: string, models: string[], extra: Partial<PoolView> = {}): PoolView => ({
  pool_id,
  ready: true,
  draining: false,
  engine: "mock",
  slots_total: 2,
  slots_free: 2,
  models_available: models,
  ...extra,
});
const node = (node_id: string, pools: PoolView[], extra: Partial<NodeInfo> = {}): NodeInfo => ({
  node_id,
  address: `http://${node_id}:9200`,
  linked: true,
  status: "Online",
  registered_at_ms: 0,
  last_heartbeat_ms: 0,
  pools,
  ...extra,
});

test("models lists online holders with capacity from ready, non-draining pools", () => {
  const view = buildAvailability([
    node("n2", [pool("p1", ["llama", "tiny"], { slots_total: 4 }), pool("p0", ["tiny"], { ready: false })]),
    node("n1", [pool("p0", ["tiny", "tiny"], { slots_total: 3 }), pool("p9", ["tiny"], { draining: true, slots_total: 8 })]),
    node("n3", [pool("p0", ["qwen"])], { status: "Offline", address: undefined }),
  ]);
  expect(view.models).toEqual([
    { model_id: "llama", nodes: ["n2"], total_nodes: 1, total_capacity: 4 },
    { model_id: "tiny", nodes: ["n1", "n2"], total_nodes: 2, total_capacity: 7 },
  ]);
  expect(view.total_models).toBe(2);
  expect(view.replicated_models).toEqual(["tiny"]);
  expect(view.single_node_models).toEqual(["llama"]);
  expect(Object.keys(view.nodes)).toEqual(["n1", "n2", "n3"]);
  expect(view.nodes.n2).toEqual({
    node_id: "n2",
    address: "http://n2:9200",
    online: true,
    models: ["llama", "tiny"],
    pools: [
      { pool_id: "p0", ready: false, models: ["tiny"] },
      { pool_id: "p1", ready: true, models: ["llama", "tiny"] },
    ],
  });
  expect(view.nodes.n1!.pools[0]!.models).toEqual(["tiny"]);
  expect(view.nodes.n3).toEqual({ node_id: "n3", address: null, online: false, models: ["qwen"], pools: [{ pool_id: "p0", ready: true, models: ["qwen"] }] });
});

test("one online node replicates nothing; no nodes is an empty view", () => {
  const one = buildAvailability([node("n1", [pool("p0", ["tiny"])])]);
  expect(one.replicated_models).toEqual([]);
  expect(one.single_node_models).toEqual(["tiny"]);
  expect(buildAvailability([])).toEqual({ models: [], nodes: {}, total_models: 0, replicated_models: [], single_node_models: [] });
});

test("a model held only by an unready pool is listed with zero capacity", () => {
  const view = buildAvailability([node("n1", [pool("p0", ["big"], { ready: false })])]);
  expect(view.models).toEqual([{ model_id: "big", nodes: ["n1"], total_nodes: 1, total_capacity: 0 }]);
});
