// KV cache use from engine to dashboard: the mock engine's deterministic figure (busy slots over
// slots) goes through the replica's health poll into the pool snapshot, over heartbeats to the
// control plane's `kv_cache_usage_ratio`, moves with a running task, and goes with the node.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { checkExposition, parseExposition } from "../../adapters/metrics/index.ts";
import { mockPool, poolOf, startCluster, waitForNodes, type Cluster } from "../harness/cluster.ts";
import { submitTask } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const kvSamples = async (url: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  expect(checkExposition(text)).toEqual([]);
  return parseExposition(text).samples.filter((s) => s.name === "kv_cache_usage_ratio");
};

test("kv_cache_usage_ratio follows the engine's KV use per replica and leaves with its node", async () => {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { slots: 2 })] }],
    // Each task streams one token and then holds its slot until canceled.
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 2, faults: { hangAfterTokens: 1 } }),
    heartbeatMs: 50,
    node: { healthIntervalMs: 20 },
  });
  await cluster.ready();
  const c = cluster;

  // Idle: the engine says 0 and the snapshot carries it.
  await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.kv_cache_usage_ratio === 0);
  expect(await kvSamples(c.url)).toEqual([
    { name: "kv_cache_usage_ratio", labels: { engine: "mock", engine_version: "mock-1", pool_id: "p0", replica_id: "replica-0", node_id: "n1" }, value: 0 },
  ]);

  // One of two slots busy: 0.5, at a later poll (reads are at most every 2 s).
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "hold", max_tokens: 100 });
  expect(t.status).toBe(202);
  await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.kv_cache_usage_ratio === 0.5);
  expect((await kvSamples(c.url)).map((s) => [s.labels.node_id, s.labels.pool_id, s.value])).toEqual([["n1", "p0", 0.5]]);

  expect((await fetch(`${c.url}/v2/tasks/${t.json.task_id}/cancel`, { method: "POST" })).status).toBe(204);
  await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.kv_cache_usage_ratio === 0);

  // The node leaves: its series goes.
  await c.nodes.get("n1")!.shutdown();
  await waitForNodes(c, (nodes) => nodes.length === 0);
  expect(await kvSamples(c.url)).toEqual([]);
}, 20_000);
