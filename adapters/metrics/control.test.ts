import { describe, expect, test } from "bun:test";
import { Registry } from "prom-client";
import { checkExposition, createControlMetrics, parseExposition, REQUIRED_SERIES, SERIES, type SeriesSpec } from "./control.ts";

// The upstream series kept as a stable API, with node_id on pool and replica series
// (docs/contract.md#metrics). Written out here rather than derived from SERIES so a changed label
// in control.ts fails this test.
const UPSTREAM_REQUIRED: Array<[string, string, string[]]> = [
  ["tasks_enqueued_total", "counter", ["engine", "engine_version", "pool_id", "replica_id", "priority", "node_id"]],
  ["tasks_started_total", "counter", ["engine", "engine_version", "pool_id", "replica_id", "priority", "node_id"]],
  ["tasks_canceled_total", "counter", ["engine", "engine_version", "pool_id", "replica_id", "reason", "node_id"]],
  ["tasks_rejected_total", "counter", ["engine", "reason"]],
  ["queue_depth", "gauge", ["engine", "engine_version", "pool_id", "priority", "node_id"]],
  ["gpu_utilization", "gauge", ["engine", "engine_version", "pool_id", "replica_id", "device", "node_id"]],
  ["vram_used_bytes", "gauge", ["engine", "engine_version", "pool_id", "replica_id", "device", "node_id"]],
  ["kv_cache_usage_ratio", "gauge", ["engine", "engine_version", "pool_id", "replica_id", "node_id"]],
  ["latency_first_token_ms", "histogram", ["engine", "engine_version", "pool_id", "model", "priority", "node_id"]],
  ["latency_decode_ms", "histogram", ["engine", "engine_version", "pool_id", "model", "priority", "node_id"]],
  ["latency_inter_token_seconds", "histogram", ["engine", "engine_version", "pool_id", "model", "priority", "node_id"]],
  ["latency_end_to_end_seconds", "histogram", ["engine", "engine_version", "pool_id", "model", "priority", "node_id"]],
  ["tokens_in_total", "counter", ["engine", "engine_version", "pool_id", "replica_id", "model", "node_id"]],
  ["tokens_out_total", "counter", ["engine", "engine_version", "pool_id", "replica_id", "model", "node_id"]],
  ["admission_backpressure_events_total", "counter", ["engine", "policy"]],
  ["catalog_verifications_total", "counter", ["result", "reason", "engine"]],
  ["model_state", "gauge", ["model_id", "state"]],
  ["placement_decisions_total", "counter", ["outcome", "pinned", "fallback"]],
  ["placement_candidates_considered", "gauge", []],
  ["active_leases", "gauge", ["pool_id", "node_id"]],
  ["pool_ready", "gauge", ["pool_id", "node_id"]],
  ["drain_events_total", "counter", ["pool_id", "reason"]],
  ["sse_backpressure_drops_total", "counter", []],
  ["orchd_pools_available", "gauge", ["pool_id"]],
  ["orchd_admission_queue_depth", "gauge", ["pool_id"]],
  ["orchd_tasks_dispatched_total", "counter", ["pool_id", "outcome"]],
  ["orchd_dispatch_latency_ms", "histogram", ["pool_id"]],
  ["orchd_admission_enqueued_total", "counter", ["pool_id", "outcome"]],
  ["orchd_admission_rejected_total", "counter", ["pool_id", "reason"]],
  ["orchd_pool_health_checks_total", "counter", ["pool_id", "outcome"]],
  ["orchd_pool_health_check_duration_ms", "histogram", ["pool_id"]],
  ["rate_limited_total", "counter", ["reason"]],
];

const scrape = async (m: ReturnType<typeof createControlMetrics>) => m.registry.metrics();
const value = (text: string, name: string, labels: Record<string, string>) =>
  parseExposition(text).samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe("control metrics", () => {
  test("REQUIRED_SERIES holds every upstream series with exactly its labels", () => {
    for (const [name, type, labels] of UPSTREAM_REQUIRED) {
      const spec = REQUIRED_SERIES.find((s) => s.name === name);
      expect(spec, name).toBeDefined();
      expect(spec!.type).toBe(type as SeriesSpec["type"]);
      expect([...spec!.labels].sort()).toEqual([...labels].sort());
    }
    expect(new Set(REQUIRED_SERIES.map((s) => s.name)).size).toBe(REQUIRED_SERIES.length);
  });

  test("a fresh registry shows a # TYPE line for every series and conforms", async () => {
    const text = await scrape(createControlMetrics());
    for (const spec of REQUIRED_SERIES) expect(text).toContain(`# TYPE ${spec.name} ${spec.type}\n`);
    expect(checkExposition(text)).toEqual([]);
  });

  test("closed enums start at 0: rejection reasons, backpressure policies, placement outcomes, rate-limit reasons", async () => {
    const text = await scrape(createControlMetrics());
    for (const reason of ["ADMISSION_REJECT", "QUEUE_FULL_DROP_LRU", "INVALID_PARAMS", "POOL_UNREADY", "POOL_UNAVAILABLE", "REPLICA_EXHAUSTED"]) {
      expect(value(text, "tasks_rejected_total", { engine: "", reason })).toBe(0);
    }
    expect(value(text, "admission_backpressure_events_total", { policy: "drop-lru" })).toBe(0);
    expect(value(text, "admission_backpressure_events_total", { policy: "shed-low-priority" })).toBeUndefined();
    const placements = parseExposition(text).samples.filter((s) => s.name === "placement_decisions_total");
    expect(placements).toHaveLength(8);
    expect(placements.every((s) => s.value === 0)).toBe(true);
    for (const reason of ["rps", "tpm"]) expect(value(text, "rate_limited_total", { reason })).toBe(0);
    expect(value(text, "sse_backpressure_drops_total", {})).toBe(0);
    expect(value(text, "placement_candidates_considered", {})).toBe(0);
    for (const outcome of ["accepted", "rejected"]) expect(value(text, "orchd_admission_enqueued_total", { pool_id: "", outcome })).toBe(0);
  });

  test("the state store's series start at 0 for every kind they count", async () => {
    const text = await scrape(createControlMetrics());
    for (const kind of ["artifact", "transcript", "stream", "catalog", "session"]) {
      expect(value(text, "store_writes_total", { kind })).toBe(0);
      expect(value(text, "store_write_errors_total", { kind })).toBe(0);
    }
    for (const kind of ["artifact", "transcript", "stream"]) expect(value(text, "store_evicted_total", { kind })).toBe(0);
    for (const name of ["store_bytes", "store_write_queue_depth", "store_write_queue_bytes", "store_backpressure_total", "transcripts_lost_total"]) {
      expect(value(text, name, {})).toBe(0);
    }
  });

  test("labels a caller leaves out are written as empty, so every sample has the declared set", async () => {
    const m = createControlMetrics();
    // The shape today's call sites use: no node_id.
    m.tasksEnqueued.inc({ engine: "mock", engine_version: "", pool_id: "", replica_id: "", priority: "interactive" });
    m.tokensOut.labels({ engine: "mock", engine_version: "1", pool_id: "p0", replica_id: "r0" }).inc(3);
    m.queueDepth.set({ priority: "batch" }, 4);
    m.firstToken.observe({ engine: "mock", pool_id: "p0", priority: "interactive", node_id: "n1" }, 120);
    m.decode.labels({ engine: "mock", pool_id: "p0", priority: "interactive" }).observe(900);
    m.activeLeases.inc({ pool_id: "p0", node_id: "n1" });
    m.dispatchLatency.observe({ pool_id: "p0" }, 3);
    const text = await scrape(m);
    expect(checkExposition(text)).toEqual([]);
    expect(value(text, "tokens_out_total", { pool_id: "p0", node_id: "" })).toBe(3);
    expect(value(text, "queue_depth", { priority: "batch", engine: "", node_id: "" })).toBe(4);
    expect(value(text, "latency_first_token_ms_bucket", { le: "150", node_id: "n1" })).toBe(1);
    expect(value(text, "latency_first_token_ms_bucket", { le: "100", node_id: "n1" })).toBe(0);
    expect(value(text, "latency_decode_ms_count", { pool_id: "p0" })).toBe(1);
    expect(value(text, "active_leases", { pool_id: "p0", node_id: "n1" })).toBe(1);
  });

  test("histograms use the recommended buckets", async () => {
    const m = createControlMetrics();
    m.firstToken.observe({}, 1);
    m.decode.observe({}, 1);
    const les = (name: string, text: string) =>
      parseExposition(text).samples.filter((s) => s.name === `${name}_bucket`).map((s) => s.labels.le);
    const text = await scrape(m);
    expect(les("latency_first_token_ms", text)).toEqual(["50", "100", "150", "200", "300", "500", "750", "1000", "1500", "2000", "3000", "+Inf"]);
    expect(les("latency_decode_ms", text)).toEqual(["250", "500", "1000", "1500", "2000", "3000", "4000", "6000", "8000", "12000", "+Inf"]);
  });

  test("an undeclared label still throws", () => {
    const m = createControlMetrics();
    expect(() => m.tasksRejected.inc({ engine: "mock", reason: "INTERNAL", job_id: "x" } as never)).toThrow();
  });

  test("two control planes in one process keep separate registries", async () => {
    const a = createControlMetrics();
    const b = createControlMetrics(new Registry());
    a.tokensIn.inc({ pool_id: "p0" }, 5);
    expect(value(await scrape(b), "tokens_in_total", { pool_id: "p0" })).toBeUndefined();
    expect(value(await scrape(a), "tokens_in_total", { pool_id: "p0" })).toBe(5);
  });
});

describe("checkExposition", () => {
  const spec: SeriesSpec[] = [
    { name: "x_total", type: "counter", help: "x", labels: ["pool_id", "node_id"] },
    { name: "h_ms", type: "histogram", help: "h", labels: [], buckets: [1, 2] },
  ];

  test("reports a missing # TYPE line, a wrong label set and unexpected buckets", () => {
    const text = [
      "# TYPE x_total gauge",
      'x_total{pool_id="p0"} 1',
      'h_ms_bucket{le="1"} 0',
      'h_ms_bucket{le="5"} 0',
      'h_ms_bucket{le="+Inf"} 0',
      "h_ms_sum 0",
      "h_ms_count 0",
    ].join("\n");
    const problems = checkExposition(text, spec);
    expect(problems).toHaveLength(4);
    expect(problems[0]).toContain("# TYPE x_total counter");
    expect(problems[1]).toContain("instead of {node_id,pool_id}");
    expect(problems[2]).toContain("# TYPE h_ms histogram");
    expect(problems[3]).toContain("buckets");
  });

  test("parses escaped label values", () => {
    const { samples } = parseExposition('y{reason="a \\"quoted\\" \\\\ value"} 2\n');
    expect(samples).toEqual([{ name: "y", labels: { reason: 'a "quoted" \\ value' }, value: 2 }]);
  });

  test("every series in the table is on ControlMetrics", () => {
    const m = createControlMetrics();
    for (const key of Object.keys(SERIES)) expect(m).toHaveProperty(key);
  });
});

describe("seconds histograms fed in milliseconds", () => {
  test("latency_end_to_end_seconds and latency_inter_token_seconds record ms observations as seconds", async () => {
    const m = createControlMetrics();
    const labels = { engine: "mock", engine_version: "v", pool_id: "p0", node_id: "n1", model: "tiny", priority: "interactive" };
    m.endToEnd.observe(labels, 1500);
    m.interToken.labels(labels).observe(20);
    const { samples } = parseExposition(await m.registry.metrics());
    const value = (name: string, le?: string) => samples.find((s) => s.name === name && (le === undefined || s.labels.le === le))?.value;
    expect(value("latency_end_to_end_seconds_sum")).toBe(1.5);
    expect(value("latency_end_to_end_seconds_bucket", "1")).toBe(0);
    expect(value("latency_end_to_end_seconds_bucket", "2.5")).toBe(1);
    expect(value("latency_inter_token_seconds_sum")).toBe(0.02);
    expect(value("latency_inter_token_seconds_bucket", "0.02")).toBe(1);
  });
});
