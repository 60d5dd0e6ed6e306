// Pools control for the HTTP surface (health, drain, reload, preload, purge): finds the nodes holding a pool (registry) and asks each
// node's agent over the link, each ask with a deadline. An unreachable node counts as not live.
// By default an operation applies to every node holding the pool; `node_id` picks one.

import { describe, RealClock, type Clock, type Logger } from "../../../runtime/index.ts";
import { notFound, type PoolHealthV2, type PoolNodeHealthV2, type PoolPreloadNodeV2, type PoolsPort } from "../../../contract/index.ts";
import { asPoolsAgent, PoolDrainReply, PoolHealthReply, PoolPreloadReply } from "../../../contract/link.ts";
import { purgePool } from "./purge.ts";
import type { PoolHolder, RegistryRef } from "../registry/protocol.ts";
import { askNode, rollingReload, type Targets } from "./reload.ts";

export interface PoolsPortOptions {
  clock?: Clock;
  log?: Logger;
  /** Per-node wait for a health answer; an unreachable node then reads live:false. */
  healthTimeoutMs?: number;
  /** Per-node wait for a drain to be acknowledged (the drain itself goes on after). */
  drainTimeoutMs?: number;
  /**
   * Per-node wait for a reload beyond its drain deadline: stopping the old engine, starting the new
   * one and, on failure, restarting the old (nodes give an engine 120 s to become ready, each).
   */
  reloadTimeoutMs?: number;
  /** Per-node wait for a preload: an engine start (nodes give it 120 s) and, on failure, its stop. */
  preloadTimeoutMs?: number;
  /** Per-node wait for a purge: stopping the engine (its 10 s grace, a kill) and removing the files. */
  purgeTimeoutMs?: number;
  /** The admission queue's depth, reported in health metrics. */
  queueDepth?: () => Promise<number>;
  /** drain_events_total{pool_id,reason}: counted once per accepted drain request. */
  drainEvents?: { inc(labels: { pool_id: string; reason: string }): void };
  /**
   * Each node asked for a pool's health: the outcome (ready, answered not ready, no usable answer)
   * and the round trip in ms (undefined when the node is offline and was not asked).
   */
  healthChecked?: (pool_id: string, outcome: "success" | "not_ready" | "error", ms: number | undefined) => void;
}

export const POOLS_DEFAULTS = { healthTimeoutMs: 2000, drainTimeoutMs: 5000, reloadTimeoutMs: 300_000, preloadTimeoutMs: 150_000, purgeTimeoutMs: 60_000 };

export function createPoolsPort(registry: RegistryRef, options: PoolsPortOptions = {}): PoolsPort {
  const clock = options.clock ?? new RealClock();
  const healthTimeoutMs = options.healthTimeoutMs ?? POOLS_DEFAULTS.healthTimeoutMs;
  const drainTimeoutMs = options.drainTimeoutMs ?? POOLS_DEFAULTS.drainTimeoutMs;

  const targets = async (poolId: string, nodeId?: string): Promise<Targets> => {
    const all = await registry.ask({ type: "pool-agents", pool_id: poolId });
    const holders = nodeId === undefined ? all : all.filter((h) => h.node_id === nodeId);
    if (holders.length > 0) return { ok: true, holders };
    const message = nodeId !== undefined && all.length > 0 ? `pool ${poolId} is not on node ${nodeId}` : `pool ${poolId} not found`;
    return { ok: false, error: notFound(message) };
  };

  /**
   * Nodes answer a drain or reload only after heartbeating the pool's new snapshot, over the same
   * ordered link; one more ask to the registry, which handles its mailbox in order, makes sure that
   * heartbeat is applied (and the scheduler told) before the client hears back.
   */
  const settle = () =>
    registry.ask({ type: "list" }).then(
      () => undefined,
      () => undefined,
    );

  const nodeHealth = async (h: PoolHolder, poolId: string): Promise<PoolNodeHealthV2 | undefined> => {
    const down = (why: string): PoolNodeHealthV2 => ({
      node_id: h.node_id,
      live: false,
      ready: false,
      draining: h.pool.draining,
      engine_version: h.pool.engine_version,
      model: h.pool.models_available[0],
      active_leases: 0,
      slots_free: 0,
      slots_total: h.pool.slots_total,
      last_error: why,
    });
    const checked = options.healthChecked ?? (() => undefined);
    if (!h.online) {
      checked(poolId, "error", undefined);
      return down(`node ${h.node_id} is offline`);
    }
    const started = clock.now();
    try {
      const parsed = PoolHealthReply.safeParse(await asPoolsAgent(h.agent).ask({ type: "pool-health", pool_id: poolId }, { timeoutMs: healthTimeoutMs }));
      const ms = clock.now() - started;
      if (!parsed.success) {
        checked(poolId, "error", ms);
        return down(`node ${h.node_id} sent a malformed health answer`);
      }
      if (!parsed.data.ok) {
        // Not found: the node no longer holds the pool; no check of it happened.
        if (parsed.data.reason === "not_found") return undefined;
        checked(poolId, "error", ms);
        return down(parsed.data.error.message);
      }
      checked(poolId, parsed.data.ready ? "success" : "not_ready", ms);
      const { ok: _ok, node_id: _node, pool_id: _pool, engine: _engine, ...rest } = parsed.data;
      return { node_id: h.node_id, ...rest };
    } catch (error) {
      checked(poolId, "error", clock.now() - started);
      return down(`node ${h.node_id} did not answer: ${describe(error)}`);
    }
  };

  return {
    async health(poolId, { nodeId } = {}) {
      const t = await targets(poolId, nodeId);
      if (!t.ok) return t;
      const [answers, queueDepth] = await Promise.all([
        Promise.all(t.holders.map((h) => nodeHealth(h, poolId))),
        options.queueDepth?.().catch(() => undefined),
      ]);
      const nodes = answers.filter((n): n is PoolNodeHealthV2 => n !== undefined);
      if (nodes.length === 0) return { ok: false, error: notFound(`pool ${poolId} not found`) };
      const sum = (k: "active_leases" | "slots_free" | "slots_total") => nodes.reduce((n, x) => n + x[k], 0);
      const versions = new Set(nodes.map((n) => n.engine_version));
      const version = versions.size === 1 ? [...versions][0] : undefined;
      const health: PoolHealthV2 = {
        pool_id: poolId,
        live: nodes.some((n) => n.live),
        ready: nodes.some((n) => n.ready),
        draining: nodes.every((n) => n.draining),
        metrics: { active_leases: sum("active_leases"), slots_free: sum("slots_free"), slots_total: sum("slots_total"), queue_depth: queueDepth },
        last_error: nodes.find((n) => n.last_error)?.last_error,
        engine_version: version,
        models_available: [...new Set(nodes.flatMap((n) => (n.model ? [n.model] : [])))],
        nodes,
      };
      return { ok: true, value: health };
    },

    async drain(poolId, request) {
      const t = await targets(poolId, request.node_id);
      if (!t.ok) return t;
      options.log?.info(`Draining pool ${poolId}`, { pool_id: poolId, deadline_ms: request.deadline_ms, nodes: t.holders.map((h) => h.node_id) });
      const replies: PoolDrainReply[] = await Promise.all(
        t.holders.map((h) => askNode(h, { type: "pool-drain", pool_id: poolId, deadline_ms: request.deadline_ms }, PoolDrainReply, drainTimeoutMs)),
      );
      await settle();
      const nodes = replies.map((r) =>
        r.ok ? { node_id: r.node_id, draining: true, already: r.already, active_leases: r.active_leases } : { node_id: r.node_id, draining: false, error: r.error },
      );
      if (replies.some((r) => r.ok)) {
        options.drainEvents?.inc({ pool_id: poolId, reason: "api_request" });
        return { ok: true, value: { pool_id: poolId, draining: true, deadline_ms: request.deadline_ms, nodes } };
      }
      const failures = replies.filter((r) => !r.ok);
      const busy = failures.find((r) => r.reason === "busy");
      const first = busy ?? failures.find((r) => r.reason !== "not_found") ?? failures[0]!;
      return { ok: false, error: first.error, conflict: busy !== undefined, nodes };
    },

    async preload(poolId, request) {
      const t = await targets(poolId, request.node_id);
      if (!t.ok) return t;
      const startedAt = clock.now();
      const timeoutMs = options.preloadTimeoutMs ?? POOLS_DEFAULTS.preloadTimeoutMs;
      options.log?.info(`Preloading pool ${poolId}`, { pool_id: poolId, nodes: t.holders.map((h) => h.node_id) });
      // Every node at once: a preload changes nothing that serves, so there is nothing to roll.
      const replies: PoolPreloadReply[] = await Promise.all(t.holders.map((h) => askNode(h, { type: "pool-preload", pool_id: poolId }, PoolPreloadReply, timeoutMs)));
      await settle();
      const nodes = replies.map((r): PoolPreloadNodeV2 =>
        r.ok
          ? { node_id: r.node_id, ready: true, already: r.already, model: r.model, engine_version: r.engine_version, duration_ms: r.duration_ms }
          : { node_id: r.node_id, ready: false, model: r.model, duration_ms: r.duration_ms, error: r.error },
      );
      // Offline holders are listed but do not fail a preload that every online holder completed.
      const anyReady = replies.some((r) => r.ok);
      const offline = new Set(t.holders.filter((h) => !h.online).map((h) => h.node_id));
      const failed = replies.filter((r): r is Extract<PoolPreloadReply, { ok: false }> => !r.ok && !(anyReady && offline.has(r.node_id)));
      const duration_ms = clock.now() - startedAt;
      if (failed.length === 0) {
        options.log?.info(`Pool ${poolId} preloaded`, { pool_id: poolId, duration_ms });
        return { ok: true, value: { pool_id: poolId, ready: true, duration_ms, nodes } };
      }
      const first = failed.find((r) => r.reason === "busy") ?? failed.find((r) => r.reason !== "not_found") ?? failed[0]!;
      options.log?.warn(`Preload of pool ${poolId} failed`, { pool_id: poolId, code: first.error.code, duration_ms });
      return { ok: false, error: first.error, conflict: first.reason === "busy", nodes };
    },

    purge: (poolId, request) =>
      purgePool({
        poolId,
        clock,
        log: options.log,
        targets: () => targets(poolId, request.node_id),
        settle,
        timeoutMs: options.purgeTimeoutMs ?? POOLS_DEFAULTS.purgeTimeoutMs,
      }),

    reload: (poolId, request) =>
      rollingReload({
        poolId,
        request,
        clock,
        log: options.log,
        targets: () => targets(poolId, request.node_id),
        settle,
        timeoutMs: options.reloadTimeoutMs ?? POOLS_DEFAULTS.reloadTimeoutMs,
      }),
  };
}
