import { describe, expect, test } from "bun:test";
import type { PoolView, PreparationStep } from "../../../contract/index.ts";
import type { AgentRef } from "../../../contract/link.ts";
import type { NodeEntry } from "../registry/protocol.ts";
import { preparationFor } from "./preparation.ts";

const agent = {} as AgentRef;
const fetching: PreparationStep = {
  id: "model:m",
  kind: "model_fetch",
  group: "model",
  description: "download https://example.test/m.gguf",
  estimated_ms: 1500,
  bytes_total: 1000,
  bytes_done: 400,
  pct: 40,
  status: "running",
  phase: "download",
};
const pool = (id: string, patch: Partial<PoolView> = {}): PoolView => ({
  pool_id: id,
  ready: false,
  draining: false,
  engine: "llamacpp",
  slots_total: 1,
  slots_free: 1,
  models_available: ["m"],
  ...patch,
});
const node = (id: string, pools: PoolView[], patch: Partial<NodeEntry> = {}): NodeEntry => ({ node_id: id, online: true, agent, pools, ...patch });

describe("preparationFor", () => {
  test("a model being fetched: the node's steps, with where they run", () => {
    const steps = preparationFor([node("n1", [pool("p0", { preparation: [fetching] })])], "m");
    expect(steps).toEqual([{ ...fetching, node_id: "n1", pool_id: "p0" }]);
  });

  test("a starting pool without steps is a pool_warmup naming its last error", () => {
    expect(preparationFor([node("n1", [pool("p0", { last_error: "engine killed by SIGKILL; restarting in 1000 ms" })])], "m")).toEqual([
      {
        id: "pool:p0",
        kind: "pool_warmup",
        group: "pool",
        description: "pool p0 on node n1 is starting: engine killed by SIGKILL; restarting in 1000 ms",
        estimated_ms: 0,
        bytes_total: 0,
        status: "running",
        node_id: "n1",
        pool_id: "p0",
      },
    ]);
  });

  test("nothing to prepare when a ready pool serves the model, or when no pool will", () => {
    expect(preparationFor([node("n1", [pool("p0", { preparation: [fetching] }), pool("p1", { ready: true })])], "m")).toBeUndefined();
    expect(preparationFor([node("n1", [pool("p0")])], "other")).toBeUndefined();
    expect(preparationFor([], "m")).toBeUndefined();
  });

  test("draining pools, offline and REST-only nodes, avoided pools and other pins are left out", () => {
    const nodes = [
      node("n3", [pool("p3", { preparation: [fetching] })]),
      node("n1", [pool("p1", { draining: true })]),
      node("n2", [pool("p2")], { online: false }),
      node("n4", [pool("p4")], { agent: undefined }),
      node("n0", [pool("p0")]),
    ];
    expect(preparationFor(nodes, "m")!.map((s) => [s.node_id, s.pool_id, s.kind])).toEqual([
      ["n0", "p0", "pool_warmup"],
      ["n3", "p3", "model_fetch"],
    ]);
    expect(preparationFor(nodes, "m", { avoid_pools: ["p0"] })!.map((s) => s.pool_id)).toEqual(["p3"]);
    expect(preparationFor(nodes, "m", { pin_pool_id: "p3" })!.map((s) => s.pool_id)).toEqual(["p3"]);
    expect(preparationFor(nodes, "m", { node_id: "n0" })!.map((s) => s.pool_id)).toEqual(["p0"]);
  });
});
