// Scrapes /metrics of a cluster that ran, canceled and refused tasks: every series of
// docs/contract.md#metrics is there with its `# TYPE` line and exactly its label set, and the
// values match what the clients observed.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { checkExposition, parseExposition } from "../../adapters/metrics/index.ts";
import { FakeGpuProbe } from "../fixtures/nvml/index.ts";
import { mockPool, poolOf, startCluster, waitForNodes, type Cluster } from "../harness/cluster.ts";
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
  // The model is a label of token and latency series; admissions count by the pool they target.
  expect(sum("tokens_out_total", { model: "tiny", pool_id: "p0" })).toBe(12);
  expect(sum("latency_first_token_ms_count", { model: "tiny", pool_id: "p0" })).toBe(3);
  expect(sum("latency_end_to_end_seconds_count", { model: "tiny", node_id: "n1" })).toBe(3);
  expect(sum("orchd_admission_enqueued_total", { pool_id: "", outcome: "accepted" })).toBe(3);
  expect(sum("orchd_admission_enqueued_total", { pool_id: "", outcome: "rejected" })).toBe(1);
  expect(sum("orchd_admission_rejected_total", { pool_id: "", reason: "MODEL_NOT_AVAILABLE" })).toBe(1);
  expect(samples.filter((s) => s.name === "queue_depth").map((s) => `${s.labels.priority}/${s.labels.pool_id}=${s.value}`).sort()).toEqual(["batch/=0", "interactive/=0"]);
  // No job ids or prompts as label values, ever.
  expect(text).not.toContain("p0\",task");
  expect(samples.some((s) => Object.keys(s.labels).some((k) => k === "job_id" || k === "task_id"))).toBe(false);
});

test("pool health checks, pinned queues and GPU gauges have series only while their node and pool are registered", async () => {
  const gpu = new FakeGpuProbe({ devices: 2 });
  gpu.setVramUsed(1, 6 * 2 ** 30);
  gpu.setUtilization(1, 55);
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { slots: 1, devices: [1], allow_cpu: false })] }],
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 1 }),
    heartbeatMs: 50,
    node: { gpu, gpuIntervalMs: 25 },
  });
  await cluster.ready();
  const c = cluster;
  // The node's heartbeat carries its NVML sample; wait for one with the set utilisation.
  await waitForNodes(c, (n) => n[0]?.capabilities?.gpus.some((g) => g.utilization_gpu_percent === 55) === true && poolOf(n, "n1", "p0")?.ready === true);
  type Samples = ReturnType<typeof parseExposition>["samples"];
  const scrape = async () => parseExposition(await (await fetch(`${c.url}/metrics`)).text()).samples;
  const sum = (samples: Samples, name: string, where: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
  const has = (samples: Samples, where: Record<string, string>) => samples.some((s) => Object.entries(where).every(([k, v]) => s.labels[k] === v));

  expect((await fetch(`${c.url}/v2/pools/p0/health`)).status).toBe(200);
  expect((await fetch(`${c.url}/v2/pools/nope/health`)).status).toBe(404);
  const pinned = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 2, placement: { mode: "pin", pin_pool_id: "p0" } });
  expect(pinned.status).toBe(202);
  await collect(`${c.url}${pinned.json.streams.sse}`);

  let samples = await scrape();
  expect(sum(samples, "orchd_pool_health_checks_total", { pool_id: "p0", outcome: "success" })).toBe(1);
  expect(sum(samples, "orchd_pool_health_check_duration_ms_count", { pool_id: "p0" })).toBe(1);
  expect(has(samples, { pool_id: "nope" })).toBe(false); // a 404 makes no series
  expect(sum(samples, "orchd_admission_enqueued_total", { pool_id: "p0", outcome: "accepted" })).toBe(1);
  expect(sum(samples, "queue_depth", { pool_id: "p0", priority: "interactive" })).toBe(0);
  expect(sum(samples, "tokens_out_total", { node_id: "n1", model: "tiny" })).toBe(2);
  // The pool's device, with the pool's labels; the node's other device serves no pool here.
  expect(sum(samples, "gpu_utilization", { node_id: "n1", pool_id: "p0", device: "1", engine: "mock" })).toBe(55);
  expect(sum(samples, "vram_used_bytes", { node_id: "n1", pool_id: "p0", device: "1" })).toBe(6 * 2 ** 30);
  expect(has(samples, { device: "0" })).toBe(false);

  // The node leaves: everything labelled with it or its pool goes.
  await c.nodes.get("n1")!.shutdown();
  await waitForNodes(c, (nodes) => nodes.length === 0);
  samples = await scrape();
  expect(sum(samples, "orchd_nodes_online")).toBe(0);
  const left = samples.filter((s) => s.labels.node_id === "n1" || s.labels.pool_id === "p0");
  expect(left.map((s) => s.name)).toEqual([]);
});
