// A node's local ops HTTP: /health, /ready, /metrics, GET /v2/pools/{id}/status.

import { Hono } from "hono";
import { Gauge, Registry } from "prom-client";
import { authorize } from "./auth.ts";
import { fail } from "./errors.ts";
import type { PoolView } from "./schemas.ts";

export interface NodeStatusSource {
  status(): Promise<{ node_id: string; connected: boolean; registered: boolean; pools: PoolView[] }>;
}

export function createNodeApp(options: { source: NodeStatusSource; version: string; token?: string }): Hono {
  const app = new Hono();
  const registry = new Registry();
  const labels = ["node_id", "pool_id"] as const;
  const ready = new Gauge({ name: "pool_ready", help: "1 when the pool is ready", labelNames: labels, registers: [registry] });
  const slotsTotal = new Gauge({ name: "pool_slots_total", help: "Slots of the pool", labelNames: labels, registers: [registry] });
  const slotsFree = new Gauge({ name: "pool_slots_free", help: "Free slots of the pool", labelNames: labels, registers: [registry] });

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
      ready.set(l, p.ready ? 1 : 0);
      slotsTotal.set(l, p.slots_total);
      slotsFree.set(l, p.slots_free);
    }
    return c.text(await registry.metrics(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  app.get("/v2/pools/:id/status", async (c) => {
    const s = await options.source.status();
    const pool = s.pools.find((p) => p.pool_id === c.req.param("id"));
    if (!pool) return fail(c, "NOT_FOUND", `pool ${c.req.param("id")} not found`);
    return c.json({ ...pool, live: pool.ready, active_leases: pool.slots_total - pool.slots_free });
  });
  app.notFound((c) => fail(c, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`));
  return app;
}
