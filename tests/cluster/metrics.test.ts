// Scrapes /metrics of a cluster that ran, canceled and refused tasks: every series of
// docs/contract.md#metrics is there with its `# TYPE` line and exactly its label set, and the
// values match what the clients observed.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { checkExposition, parseExposition } from "../../adapters/metrics/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect, submitTask } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

test("every required series is exposed with its labels, and the counts match the traffic", async () => {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { slots: 2 })] }],
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 2 }),
  });
  await cluster.ready();
  const c = cluster;

  const fresh = await (await fetch(`${c.url}/metrics`)).text();
  expect(checkExposition(fresh)).toEqual([]); // pre-registered before any traffic

  for (let i = 0; i < 3; i++) {
    const t = await submitTask(c.url, { model_ref: "tiny", prompt: `p${i}`, max_tokens: 4, priority: i === 2 ? "batch" : "interactive" });
    await collect(`${c.url}${t.json.streams.sse}`);
  }
  const refused = await submitTask(c.url, { model_ref: "missing", max_tokens: 1 });
  expect(refused.status).toBe(503);

  const res = await fetch(`${c.url}/metrics`);
  expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
  expect(res.headers.get("x-correlation-id")).toBeTruthy();
  const text = await res.text();
  expect(checkExposition(text)).toEqual([]);

  const { samples } = parseExposition(text);
  const sum = (name: string, where: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
  expect(sum("tasks_enqueued_total")).toBe(3);
  expect(sum("tasks_started_total", { node_id: "n1", pool_id: "p0", engine: "mock", priority: "interactive" })).toBe(2);
  expect(sum("tasks_started_total", { priority: "batch" })).toBe(1);
  expect(sum("tokens_out_total", { node_id: "n1", pool_id: "p0", replica_id: "replica-0" })).toBe(12);
  expect(sum("tasks_rejected_total", { reason: "MODEL_NOT_AVAILABLE" })).toBe(1);
  expect(sum("latency_first_token_ms_count", { node_id: "n1" })).toBe(3);
  expect(sum("latency_decode_ms_count")).toBe(3);
  expect(sum("placement_decisions_total", { outcome: "assigned" })).toBe(3);
  expect(sum("orchd_nodes_online")).toBe(1);
  expect(sum("pool_ready", { node_id: "n1", pool_id: "p0" })).toBe(1);
  expect(sum("orchd_pools_available", { pool_id: "p0" })).toBe(1);
  expect(sum("orchd_tasks_dispatched_total", { pool_id: "p0", outcome: "started" })).toBe(3);
  expect(sum("orchd_dispatch_latency_ms_count", { pool_id: "p0" })).toBe(3);
  expect(sum("orchd_admission_queue_depth")).toBe(0);
  // No job ids or prompts as label values, ever.
  expect(text).not.toContain("p0\",task");
  expect(samples.some((s) => Object.keys(s.labels).some((k) => k === "job_id" || k === "task_id"))).toBe(false);
});
