// The control plane's fleet gauges, set from the registry's view of its nodes at every change:
// pool readiness per node, availability per pool id, each pool's GPUs (utilisation, VRAM in
// use) from the NVML sample the node sent with its last heartbeat, and each pool's KV cache use
// from its snapshot. Only registered nodes and
// pools have series: when a node deregisters (or a pool leaves its node), its gauges go at once
// and its counters and histograms (tokens, latencies, tasks, health checks, admissions) with it.

import type { GpuInfo, PoolView } from "../../contract/index.ts";
import type { ControlMetrics } from "./control.ts";
import { HEALTH_CHECK_OUTCOMES } from "./control.ts";
import { removeSeriesWhere, SnapshotGauge } from "./series.ts";

export interface FleetNode {
  node_id: string;
  online: boolean;
  pools: readonly PoolView[];
  /** The latest GPU sample (heartbeat) or the registration's inventory. */
  gpus?: readonly GpuInfo[];
}

export interface FleetGauges {
  update(nodes: readonly FleetNode[]): void;
}

export function fleetGauges(metrics: ControlMetrics): FleetGauges {
  const poolReady = new SnapshotGauge(metrics.poolReady);
  const poolsAvailable = new SnapshotGauge(metrics.poolsAvailable);
  const gpuUtilization = new SnapshotGauge(metrics.gpuUtilization);
  const vramUsed = new SnapshotGauge(metrics.vramUsed);
  const kvCacheUsage = new SnapshotGauge(metrics.kvCacheUsage);
  let knownNodes = new Set<string>();
  let knownPools = new Set<string>();

  /** Series of a node that deregistered, whatever their other labels. */
  const forgetNode = (node_id: string) => {
    for (const m of [metrics.tasksEnqueued, metrics.tasksStarted, metrics.tasksCanceled, metrics.tokensIn, metrics.tokensOut, metrics.activeLeases]) void removeSeriesWhere(m, "node_id", node_id);
    for (const m of [metrics.firstToken, metrics.decode, metrics.interToken, metrics.endToEnd]) void removeSeriesWhere(m, "node_id", node_id);
  };
  /** Series of a pool id no registered node holds any more. */
  const forgetPool = (pool_id: string) => {
    for (const outcome of HEALTH_CHECK_OUTCOMES) metrics.poolHealthChecks.remove({ pool_id, outcome });
    metrics.poolHealthDuration.remove({ pool_id });
    for (const m of [metrics.admissionEnqueued, metrics.admissionRejected, metrics.tasksDispatched, metrics.drainEvents]) void removeSeriesWhere(m, "pool_id", pool_id);
    metrics.dispatchLatency.remove({ pool_id });
  };

  return {
    update(nodes) {
      const available = new Map<string, number>();
      for (const n of nodes) {
        const byIndex = new Map((n.gpus ?? []).map((g) => [g.index, g]));
        for (const p of n.pools) {
          const up = n.online && p.ready && !p.draining;
          poolReady.set({ pool_id: p.pool_id, node_id: n.node_id }, up ? 1 : 0);
          available.set(p.pool_id, (available.get(p.pool_id) ?? 0) + (up ? 1 : 0));
          // What the engine said at its last health poll; an offline node's figure is stale, so none.
          if (n.online && p.kv_cache_usage_ratio !== undefined) {
            kvCacheUsage.set({ engine: p.engine, engine_version: p.engine_version ?? "", pool_id: p.pool_id, replica_id: p.replica_id ?? "", node_id: n.node_id }, p.kv_cache_usage_ratio);
          }
          // Only devices the node reported: a pool's device list cannot add series of its own.
          for (const device of new Set(p.devices ?? [])) {
            const g = byIndex.get(device);
            if (!g) continue;
            const l = { engine: p.engine, engine_version: p.engine_version ?? "", pool_id: p.pool_id, replica_id: p.replica_id ?? "", node_id: n.node_id, device: String(device) };
            if (g.utilization_gpu_percent !== undefined) gpuUtilization.set(l, g.utilization_gpu_percent);
            const used = g.vram_used_bytes ?? (g.vram_free_bytes !== undefined ? g.vram_total_bytes - g.vram_free_bytes : undefined);
            if (used !== undefined) vramUsed.set(l, used);
          }
        }
      }
      for (const [pool_id, count] of available) poolsAvailable.set({ pool_id }, count);
      for (const g of [poolReady, poolsAvailable, gpuUtilization, vramUsed, kvCacheUsage]) g.sweep();

      const nodeIds = new Set(nodes.map((n) => n.node_id));
      for (const id of knownNodes) if (!nodeIds.has(id)) forgetNode(id);
      knownNodes = nodeIds;
      for (const id of knownPools) if (!available.has(id)) forgetPool(id);
      knownPools = new Set(available.keys());
    },
  };
}
