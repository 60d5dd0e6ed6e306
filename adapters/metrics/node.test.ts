import { describe, expect, test } from "bun:test";
import { Registry } from "prom-client";
import { checkExposition, parseExposition, type SeriesSpec } from "./control.ts";
import { createNodeMetrics, REQUIRED_NODE_SERIES } from "./node.ts";

// Upstream's pool manager series plus the GPU sampler's, with node_id wherever a pool or a
// device is named. Written out rather than derived from NODE_SERIES so a changed label fails here.
const POOL = ["node_id", "pool_id"];
const EXPECTED: Array<[string, SeriesSpec["type"], string[]]> = [
  ["pool_ready", "gauge", POOL],
  ["pool_slots_total", "gauge", POOL],
  ["pool_slots_free", "gauge", POOL],
  ["pool_vram_total_bytes", "gauge", POOL],
  ["pool_vram_free_bytes", "gauge", POOL],
  ["kv_cache_usage_ratio", "gauge", POOL],
  ["pool_health_checks_total", "counter", [...POOL, "outcome"]],
  ["pool_health_check_duration_seconds", "histogram", POOL],
  ["restart_scheduled_total", "counter", [...POOL, "crash_reason"]],
  ["backoff_delay_ms", "histogram", POOL],
  ["circuit_breaker_open_total", "counter", [...POOL, "class"]],
  ["circuit_breaker_state", "gauge", [...POOL, "class"]],
  ["restart_storm_total", "counter", [...POOL, "classification"]],
  ["restart_rate", "gauge", POOL],
  ["engine_crashes_total", "counter", [...POOL, "crash_reason"]],
  ["drain_duration_ms", "histogram", POOL],
  ["reload_duration_ms", "histogram", POOL],
  ["reload_success_total", "counter", POOL],
  ["reload_failure_total", "counter", [...POOL, "reason"]],
  ["pool_preload_total", "counter", [...POOL, "outcome"]],
  ["pool_handoff_files_processed_total", "counter", [...POOL, "outcome"]],
  ["pool_handoff_processing_duration_ms", "histogram", POOL],
  ["gpu_utilization", "gauge", ["node_id", "device"]],
  ["vram_used_bytes", "gauge", ["node_id", "device"]],
  ["vram_total_bytes", "gauge", ["node_id", "device"]],
];

const value = (text: string, name: string, labels: Record<string, string>) =>
  parseExposition(text).samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe("node metrics", () => {
  test("REQUIRED_NODE_SERIES holds every pool-managerd and GPU series with exactly its labels", () => {
    for (const [name, type, labels] of EXPECTED) {
      const spec = REQUIRED_NODE_SERIES.find((s) => s.name === name);
      expect(spec, name).toBeDefined();
      expect(spec!.type).toBe(type);
      expect([...spec!.labels].sort()).toEqual([...labels].sort());
    }
    expect(REQUIRED_NODE_SERIES.length).toBe(EXPECTED.length);
  });

  test("a fresh registry shows a # TYPE line for every series and conforms", async () => {
    const text = await createNodeMetrics().registry.metrics();
    for (const [name, type] of EXPECTED) expect(text).toContain(`# TYPE ${name} ${type}\n`);
    expect(checkExposition(text, REQUIRED_NODE_SERIES)).toEqual([]);
  });

  test("used series keep their labels and histogram buckets; the check still passes", async () => {
    const m = createNodeMetrics();
    const pool = { node_id: "n1", pool_id: "p0" };
    m.initPool("n1", "p0");
    m.restartScheduled.inc({ ...pool, crash_reason: "cuda_error" });
    m.engineCrashes.inc({ ...pool, crash_reason: "cuda_error" });
    m.backoffDelay.observe(pool, 2000);
    m.breakerOpened.inc({ ...pool, class: "cuda" });
    m.breakerState.set({ ...pool, class: "cuda" }, 1);
    m.restartStorms.inc({ ...pool, classification: "oom_storm" });
    m.drainDuration.observe(pool, 1234);
    m.reloadDuration.observe(pool, 9000);
    m.reloadFailure.inc({ ...pool, reason: "rolled_back" });
    m.handoffFiles.inc({ ...pool, outcome: "success" });
    m.handoffDuration.observe(pool, 40);
    m.gpuUtilization.set({ node_id: "n1", device: 0 }, 37);
    m.vramUsed.set({ node_id: "n1", device: 0 }, 2 ** 31);
    const text = await m.registry.metrics();
    expect(checkExposition(text, REQUIRED_NODE_SERIES)).toEqual([]);
    expect(value(text, "restart_scheduled_total", { pool_id: "p0", crash_reason: "cuda_error" })).toBe(1);
    expect(value(text, "circuit_breaker_state", { pool_id: "p0", class: "cuda" })).toBe(1);
    expect(value(text, "circuit_breaker_state", { pool_id: "p0", class: "general" })).toBe(0);
    expect(value(text, "backoff_delay_ms_bucket", { pool_id: "p0", le: "2000" })).toBe(1);
    expect(value(text, "backoff_delay_ms_bucket", { pool_id: "p0", le: "1000" })).toBe(0);
    expect(value(text, "gpu_utilization", { node_id: "n1", device: "0" })).toBe(37);
    expect(value(text, "vram_used_bytes", { node_id: "n1", device: "0" })).toBe(2 ** 31);
  });

  test("initPool makes a pool's closed series read 0 before any event", async () => {
    const m = createNodeMetrics();
    m.initPool("n1", "p0");
    const text = await m.registry.metrics();
    expect(value(text, "pool_ready", { node_id: "n1", pool_id: "p0" })).toBe(0);
    expect(value(text, "restart_rate", { pool_id: "p0" })).toBe(0);
    expect(value(text, "reload_success_total", { pool_id: "p0" })).toBe(0);
    for (const c of ["cuda", "general"]) expect(value(text, "circuit_breaker_open_total", { pool_id: "p0", class: c })).toBe(0);
  });

  test("a missing label is a type error, and a scrape with one would fail the check", async () => {
    const m = createNodeMetrics();
    // @ts-expect-error node_id is required on every pool series
    m.poolReady.set({ pool_id: "p0" }, 1);
    expect(checkExposition(await m.registry.metrics(), REQUIRED_NODE_SERIES)).toEqual(["pool_ready: labels {pool_id} instead of {node_id,pool_id}"]);
  });

  test("each node has its own registry", async () => {
    const a = createNodeMetrics();
    const b = createNodeMetrics(new Registry());
    a.gpuUtilization.set({ node_id: "a", device: 0 }, 50);
    expect(value(await b.registry.metrics(), "gpu_utilization", { node_id: "a" })).toBeUndefined();
    expect(value(await a.registry.metrics(), "gpu_utilization", { node_id: "a" })).toBe(50);
  });
});
