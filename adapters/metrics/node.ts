// Node (pool-managerd) metrics: upstream's pool manager series and the GPU sampler's series, with
// `node_id` on every series that names a pool or a device (docs/contract.md#metrics). The
// NODE_SERIES table is the single source for names, types, labels and buckets; REQUIRED_NODE_SERIES
// feeds checkExposition for scrape checks. One registry per node instance, never prom-client's
// global one, so two nodes in one test process stay apart.

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { msToSeconds, type SeriesSpec } from "./control.ts";

// Restart backoff runs 1 s doubling to 60 s (2x for CUDA errors), so buckets follow the doublings.
export const BACKOFF_BUCKETS = [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 120000] as const;
// Drains wait for in-flight tasks (seconds to minutes); reloads add an engine start (up to 120 s).
export const DRAIN_BUCKETS = [100, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000] as const;
export const RELOAD_BUCKETS = [500, 1000, 2500, 5000, 10000, 20000, 30000, 60000, 120000, 300000] as const;
// An engine health poll, in seconds: a local HTTP round trip, up to its 2 s budget (a hung engine).
export const ENGINE_HEALTH_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5] as const;
// Upstream's alert on slow handoffs fires at p95 > 2000 ms, so the buckets are fine around it.
export const HANDOFF_BUCKETS = [10, 50, 100, 250, 500, 1000, 2000, 5000, 10000] as const;

/** Error classes with their own circuit breaker (mirrors actors/node/supervision ERROR_CLASSES). */
export const BREAKER_CLASSES = ["cuda", "general"] as const;

const POOL = ["node_id", "pool_id"] as const;
const DEVICE = ["node_id", "device"] as const;

/** Every series a node exposes, keyed by its property on NodeMetrics. */
export const NODE_SERIES = {
  poolReady: { name: "pool_ready", type: "gauge", help: "1 when the pool accepts work", labels: POOL },
  slotsTotal: { name: "pool_slots_total", type: "gauge", help: "Slots of the pool", labels: POOL },
  slotsFree: { name: "pool_slots_free", type: "gauge", help: "Free slots of the pool", labels: POOL },
  vramTotal: { name: "pool_vram_total_bytes", type: "gauge", help: "VRAM of the pool's devices", labels: POOL },
  vramFree: { name: "pool_vram_free_bytes", type: "gauge", help: "Free VRAM of the pool's devices", labels: POOL },
  kvCacheUsage: { name: "kv_cache_usage_ratio", type: "gauge", help: "Share of the pool engine's KV cache in use (0 to 1) at its last health poll", labels: POOL },
  healthChecks: { name: "pool_health_checks_total", type: "counter", help: "Engine health polls", labels: [...POOL, "outcome"] },
  healthCheckDuration: { name: "pool_health_check_duration_seconds", type: "histogram", help: "Engine health poll duration in seconds", labels: POOL, buckets: ENGINE_HEALTH_BUCKETS, observedInMs: true },
  restartScheduled: { name: "restart_scheduled_total", type: "counter", help: "Engine restarts scheduled after a crash", labels: [...POOL, "crash_reason"] },
  backoffDelay: { name: "backoff_delay_ms", type: "histogram", help: "Delay before an engine restart", labels: POOL, buckets: BACKOFF_BUCKETS },
  breakerOpened: { name: "circuit_breaker_open_total", type: "counter", help: "Circuit breaker openings", labels: [...POOL, "class"] },
  breakerState: { name: "circuit_breaker_state", type: "gauge", help: "1 while the circuit breaker is open", labels: [...POOL, "class"] },
  restartStorms: { name: "restart_storm_total", type: "counter", help: "Restart storms detected", labels: [...POOL, "classification"] },
  restartRate: { name: "restart_rate", type: "gauge", help: "Engine restarts within the storm window", labels: POOL },
  engineCrashes: { name: "engine_crashes_total", type: "counter", help: "Engine crashes", labels: [...POOL, "crash_reason"] },
  drainDuration: { name: "drain_duration_ms", type: "histogram", help: "Drain start to engine stopped", labels: POOL, buckets: DRAIN_BUCKETS },
  reloadDuration: { name: "reload_duration_ms", type: "histogram", help: "Reload start to new engine ready", labels: POOL, buckets: RELOAD_BUCKETS },
  reloadSuccess: { name: "reload_success_total", type: "counter", help: "Reloads that swapped the engine", labels: POOL },
  reloadFailure: { name: "reload_failure_total", type: "counter", help: "Reloads that failed", labels: [...POOL, "reason"] },
  preloads: { name: "pool_preload_total", type: "counter", help: "Preloads by outcome (ready, already, failed)", labels: [...POOL, "outcome"] },
  handoffFiles: { name: "pool_handoff_files_processed_total", type: "counter", help: "Handoff files processed", labels: [...POOL, "outcome"] },
  handoffDuration: { name: "pool_handoff_processing_duration_ms", type: "histogram", help: "Handoff file processing time", labels: POOL, buckets: HANDOFF_BUCKETS },
  gpuUtilization: { name: "gpu_utilization", type: "gauge", help: "GPU utilisation in percent", labels: DEVICE },
  vramUsed: { name: "vram_used_bytes", type: "gauge", help: "VRAM in use on the device", labels: DEVICE },
  vramDeviceTotal: { name: "vram_total_bytes", type: "gauge", help: "VRAM of the device", labels: DEVICE },
} as const satisfies Record<string, SeriesSpec>;

/** What a scrape of a node must show: a `# TYPE` line each, samples with exactly these labels. */
export const REQUIRED_NODE_SERIES: readonly SeriesSpec[] = Object.values(NODE_SERIES);

// prom-client accepts a label object that lacks declared labels and then writes a sample without
// them, splitting the series. These views require every label at compile time instead.
type Labels<L extends string> = { [K in L]: string | number };
export interface NodeCounter<L extends string> {
  inc(labels: Labels<L>, value?: number): void;
}
export interface NodeGauge<L extends string> {
  set(labels: Labels<L>, value: number): void;
  inc(labels: Labels<L>, value?: number): void;
  dec(labels: Labels<L>, value?: number): void;
  remove(labels: Labels<L>): void;
}
export interface NodeHistogram<L extends string> {
  observe(labels: Labels<L>, value: number): void;
}

type LabelsOf<S> = S extends { labels: readonly (infer L extends string)[] } ? L : never;
type Spec = { name: string; help: string; labels: readonly string[]; buckets?: readonly number[]; observedInMs?: boolean };

export function createNodeMetrics(registry = new Registry()) {
  const registers = [registry];
  const counter = <S extends Spec>(s: S): NodeCounter<LabelsOf<S>> =>
    new Counter({ name: s.name, help: s.help, labelNames: s.labels, registers });
  const gauge = <S extends Spec>(s: S): NodeGauge<LabelsOf<S>> => new Gauge({ name: s.name, help: s.help, labelNames: s.labels, registers });
  const histogram = <S extends Spec>(s: S): NodeHistogram<LabelsOf<S>> => {
    const h = new Histogram({ name: s.name, help: s.help, labelNames: s.labels, buckets: [...(s.buckets ?? [])], registers });
    return s.observedInMs ? msToSeconds(h) : h;
  };
  const S = NODE_SERIES;
  const m = {
    registry,
    poolReady: gauge(S.poolReady),
    slotsTotal: gauge(S.slotsTotal),
    slotsFree: gauge(S.slotsFree),
    vramTotal: gauge(S.vramTotal),
    vramFree: gauge(S.vramFree),
    kvCacheUsage: gauge(S.kvCacheUsage),
    healthChecks: counter(S.healthChecks),
    healthCheckDuration: histogram(S.healthCheckDuration),
    restartScheduled: counter(S.restartScheduled),
    backoffDelay: histogram(S.backoffDelay),
    breakerOpened: counter(S.breakerOpened),
    breakerState: gauge(S.breakerState),
    restartStorms: counter(S.restartStorms),
    restartRate: gauge(S.restartRate),
    engineCrashes: counter(S.engineCrashes),
    drainDuration: histogram(S.drainDuration),
    reloadDuration: histogram(S.reloadDuration),
    reloadSuccess: counter(S.reloadSuccess),
    reloadFailure: counter(S.reloadFailure),
    preloads: counter(S.preloads),
    handoffFiles: counter(S.handoffFiles),
    handoffDuration: histogram(S.handoffDuration),
    gpuUtilization: gauge(S.gpuUtilization),
    vramUsed: gauge(S.vramUsed),
    vramDeviceTotal: gauge(S.vramDeviceTotal),
    /**
     * Pre-registers a pool's series whose labels are all known up front (readiness, breaker per
     * class, restart rate, reload successes), so they read 0 rather than absent before the first
     * event. Series with open labels (crash reasons, outcomes) appear on first use.
     */
    initPool(nodeId: string, poolId: string) {
      const l = { node_id: nodeId, pool_id: poolId };
      m.poolReady.set(l, 0);
      m.restartRate.set(l, 0);
      m.reloadSuccess.inc(l, 0);
      for (const c of BREAKER_CLASSES) {
        m.breakerState.set({ ...l, class: c }, 0);
        m.breakerOpened.inc({ ...l, class: c }, 0);
      }
    },
  };
  return m;
}

export type NodeMetrics = ReturnType<typeof createNodeMetrics>;
