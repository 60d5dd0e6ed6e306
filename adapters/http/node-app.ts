// A node's local ops HTTP: /health, /ready, /metrics, GET /v2/pools/{id}/status. The metrics
// registry is the node's own (createNodeMetrics): actors update their series as things happen,
// and the pool gauges are refreshed from the agent's snapshots at each scrape.

import { Hono } from "hono";
import { createNodeMetrics, type NodeMetrics } from "../metrics/node.ts";
import { SnapshotGauge } from "../metrics/series.ts";
import { authorize } from "./auth.ts";
import { fail } from "./errors.ts";
import type { GpuInfo, PoolView } from "../../contract/index.ts";

/** A pool snapshot may say whether its engine is up apart from ready (loading, draining). */
type PoolSnapshot = PoolView & { live?: boolean };

export interface NodeStatusSource {
  status(): Promise<{ node_id: string; connected: boolean; registered: boolean; pools: PoolSnapshot[]; gpus?: GpuInfo[] }>;
}

export interface NodeAppOptions {
  source: NodeStatusSource;
  version: string;
  token?: string;
  /** The node's registry; a fresh one when absent (then only the pool gauges move). */
  metrics?: NodeMetrics;
}

export function createNodeApp(options: NodeAppOptions): Hono {
  const app = new Hono();
  const metrics = options.metrics ?? createNodeMetrics();
  // The pool gauges mirror the pools the agent reports now: a pool that left loses its series.
  type PoolLabels = { node_id: string; pool_id: string };
  const poolReady = new SnapshotGauge<PoolLabels>(metrics.poolReady);
  const slotsTotal = new SnapshotGauge<PoolLabels>(metrics.slotsTotal);
  const slotsFree = new SnapshotGauge<PoolLabels>(metrics.slotsFree);
  const vramTotal = new SnapshotGauge<PoolLabels>(metrics.vramTotal);
  const vramFree = new SnapshotGauge<PoolLabels>(metrics.vramFree);
  const kvCacheUsage = new SnapshotGauge<PoolLabels>(metrics.kvCacheUsage);
  const pools = [poolReady, slotsTotal, slotsFree, vramTotal, vramFree, kvCacheUsage];

  app.use(async (c, next) => {
    const id = c.req.header("x-correlation-id") ?? crypto.randomUUID();
    await next();
    c.res.headers.set("X-Correlation-Id", id);
  });
  app.use("/v2/*", async (c, next) => {
    const outcome = authorize(c.req.header("authorization"), options.token);
    if (!outcome.ok) return fail(c, outcome.code, "missing or invalid bearer token");
    await next();
  });

  app.get("/health", (c) => c.json({ status: "ok", version: options.version }));
  app.get("/ready", async (c) => {
    const s = await options.source.status();
    const ok = s.registered && s.pools.length > 0 && s.pools.every((p) => p.ready);
    return c.json({ ready: ok, registered: s.registered, pools: s.pools.map((p) => ({ pool_id: p.pool_id, ready: p.ready, last_error: p.last_error })) }, ok ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    const s = await options.source.status();
    for (const p of s.pools) {
      const l = { node_id: s.node_id, pool_id: p.pool_id };
      poolReady.set(l, p.ready ? 1 : 0);
      slotsTotal.set(l, p.slots_total);
      slotsFree.set(l, p.slots_free);
      const vram = poolVram(p, s.gpus);
      if (vram.total !== undefined) vramTotal.set(l, vram.total);
      if (vram.free !== undefined) vramFree.set(l, vram.free);
      if (p.kv_cache_usage_ratio !== undefined) kvCacheUsage.set(l, p.kv_cache_usage_ratio);
    }
    for (const g of pools) g.sweep();
    return c.text(await metrics.registry.metrics(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  app.get("/v2/pools/:id/status", async (c) => {
    const s = await options.source.status();
    const pool = s.pools.find((p) => p.pool_id === c.req.param("id"));
    if (!pool) return fail(c, "NOT_FOUND", `pool ${c.req.param("id")} not found`);
    // Upstream's pool status {pool_id, live, ready, active_leases, engine_version: string|null},
    // plus the snapshot's slots, VRAM and draining. Snapshots without `live` predate it: ready implies live.
    return c.json({
      ...pool,
      live: pool.live ?? pool.ready,
      active_leases: pool.slots_total - pool.slots_free,
      engine_version: pool.engine_version ?? null,
    });
  });
  app.notFound((c) => fail(c, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`));
  return app;
}

/**
 * A pool's VRAM: what its snapshot says, else the sum over the devices of its device mask from
 * the latest NVML sample. A pool without devices (on the CPU) has none.
 */
export function poolVram(p: PoolView, gpus: readonly GpuInfo[] | undefined): { total?: number; free?: number } {
  if (p.vram_total_bytes !== undefined || p.vram_free_bytes !== undefined) return { total: p.vram_total_bytes, free: p.vram_free_bytes };
  const devices = new Set(p.devices ?? []);
  const mine = (gpus ?? []).filter((g) => devices.has(g.index));
  if (mine.length === 0) return {};
  const free = mine.every((g) => g.vram_free_bytes !== undefined) ? mine.reduce((n, g) => n + g.vram_free_bytes!, 0) : undefined;
  return { total: mine.reduce((n, g) => n + g.vram_total_bytes, 0), free };
}
