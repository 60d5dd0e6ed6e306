// One pool's subtree: a rest_for_one supervisor over the manager and its engine replica, and the
// replica slot through which the manager stops and restarts the replica for drain, reload and
// preload. A pool whose local model file is missing starts without a replica: no engine, no
// crash counted, the reason in its last_error, until a preload or reload finds the file.
//
//   pool-<id> (rest_for_one)
//   ├─ manager        leases, readiness, snapshots, drain/reload/preload
//   └─ replica-0      engine driver; restarted with backoff when its engine dies

import type { ActorSystem, ChildSpec, Clock, Logger, SupervisorRef } from "../../../runtime/index.ts";
import { supervisor } from "../../../runtime/index.ts";
import type { EngineAdapter } from "../../../adapters/engines/index.ts";
import type { AgentInternalRef } from "../agent/protocol.ts";
import { poolWorkloads, type PoolConfig } from "../config.ts";
import { replica, ReplicaCrash } from "../replica/replica.ts";
import { EngineSupervisor } from "../engine/engine-supervisor.ts";
import type { NodeMetrics } from "../../../adapters/metrics/index.ts";
import { poolManager } from "./pool.ts";
import { cacheEntry, FILE_ENGINES, missingModelFile, purgeCachedModel, type CacheUsers, type PurgeResult } from "../models/index.ts";
import type { PoolRef, ReplicaSlot } from "./protocol.ts";
import type { ReplicaRef } from "../replica/protocol.ts";

/** Makes an engine for a pool; `pool.model` is the model to load (after a reload, the new one). */
import type { EngineFactory } from "../engine/factory.ts";
export type { EngineFactory };

export interface PoolTreeOptions {
  system: ActorSystem;
  /** Why the pool may not start on this node (GPU-only rule); it then runs without a replica. */
  unavailable?: string;
  metrics?: NodeMetrics;
  /** Overrides of the engine restart policy (tests use short times). */
  supervision?: ConstructorParameters<typeof EngineSupervisor>[0]["config"];
  /** Path of the supervisor this subtree runs under, e.g. "node". */
  parent: string;
  nodeId: string;
  pool: PoolConfig;
  agent: AgentInternalRef;
  engineFactory: EngineFactory;
  healthIntervalMs: number;
  readyTimeoutMs?: number;
  /**
   * Check the pool's local model file before its engine starts (relative paths resolve against
   * baseDir); absent: no check (a handoff's engine runs elsewhere and loads what it loads).
   */
  modelFiles?: { baseDir: string; homeDir?: string; cacheDir?: string; hfBaseUrl?: string };
  /** The cache entries of this node's pools, so a purge spares a file another pool loads. */
  cacheUsers?: CacheUsers;
  log: Logger;
}

export interface PoolTree {
  spec: ChildSpec;
  ref: PoolRef;
}

/** Asks to the pool supervisor wait for a replica's graceful stop (5 s, then killed). */
const SUPERVISOR_ASK_MS = 15_000;

export function poolTree(options: PoolTreeOptions): PoolTree {
  const { system, pool, log } = options;
  const id = `pool-${pool.id}`;
  const base = `${options.parent}/${id}`;
  const replicaId = "replica-0";
  const ref: PoolRef = system.ref(`${base}/manager`);
  const replicaRef: ReplicaRef = system.ref(`${base}/${replicaId}`);
  const sup: SupervisorRef = system.ref(base);
  // The model the replica's engine loads; changed only by the manager, through the slot.
  let model = pool.model;
  // A reload names a new model ref; the configured model_file belongs to the configured model.
  const current = () => ({ ...pool, model, model_file: model === pool.model ? pool.model_file : undefined, model_digest: model === pool.model ? pool.model_digest : undefined });
  /** Why the replica's engine cannot start: its local model file is not there. */
  const modelMissing = (): string | undefined => {
    if (!options.modelFiles || !FILE_ENGINES.has(pool.engine)) return undefined;
    const p = current();
    return missingModelFile(p.model_file ?? p.model, options.modelFiles);
  };
  /** The model ref the engine loads, for the cache: absent when this node loads no file for it. */
  const fileRef = () => (options.modelFiles && FILE_ENGINES.has(pool.engine) ? (current().model_file ?? current().model) : undefined);
  const noteCacheUse = () => {
    const ref = fileRef();
    const entry = ref === undefined ? undefined : cacheEntry(ref, options.modelFiles!);
    options.cacheUsers?.set(pool.id, entry && "path" in entry ? entry.path : undefined);
  };
  noteCacheUse();
  const purgeFiles = async (): Promise<PurgeResult> => {
    const ref = fileRef();
    if (ref === undefined) {
      const why = options.modelFiles ? `engine ${pool.engine} loads no model file on this node` : "the pool's engine was started elsewhere (a handoff): this node holds no file of it";
      return { removed: [], kept: why };
    }
    return purgeCachedModel(ref, { ...options.modelFiles!, poolId: pool.id, users: options.cacheUsers });
  };
  const missingAtStart = options.unavailable ? undefined : modelMissing();
  if (missingAtStart) {
    log.error(`Pool ${pool.id} is not ready: ${missingAtStart}; no engine was started. Put the file there, then preload or reload the pool`, {
      event: "model_missing",
      pool_id: pool.id,
      model: pool.model,
      reason: missingAtStart,
    });
  }
  // Whether the replica child runs (or waits to restart); false before a preload or reload starts it.
  let replicaUp = !options.unavailable && !missingAtStart;

  // The engine's restart policy outlives replica incarnations (backoff, breakers, storm guard).
  const engineSupervisor = new EngineSupervisor({
    nodeId: options.nodeId,
    poolId: pool.id,
    log,
    metrics: options.metrics,
    config: options.supervision,
    note: (last_error) => ref.tell({ type: "engine-note", last_error }),
  });
  const replicaSpec: ChildSpec = {
    id: replicaId,
    // Exit code 0 stops the replica normally: a graceful engine shutdown is not restarted.
    restart: "transient",
    // Stopping the engine's process group may take its 5 s grace and a SIGKILL.
    shutdownMs: 10_000,
    restartDelay: ({ reason, now, random }) => {
      // The file went away (or a reload or preload named one that is not there): not an engine
      // crash. No restart until a preload or reload; nothing counted, no breaker.
      const missing = modelMissing();
      if (missing) {
        log.error(`Pool ${pool.id} is not ready: ${missing}; not restarting its engine until a preload or reload`, { event: "model_missing", pool_id: pool.id, model, reason: missing });
        ref.tell({ type: "engine-note", last_error: missing });
        return Infinity;
      }
      const crash = reason.kind === "failed" && reason.error instanceof ReplicaCrash ? reason.error : undefined;
      // The crash's own message says more than its class (e.g. "model not ready: digest mismatch").
      return engineSupervisor.crashed(crash?.reason ?? { kind: "exit", code: -1 }, now, random, crash?.message);
    },
    start: replica({
      nodeId: options.nodeId,
      poolId: pool.id,
      replicaId,
      pool: ref,
      // Read at every (re)start, so a crash restart after a reload loads the new model.
      engine: () => options.engineFactory(current(), replicaId, system.clock),
      log,
      healthIntervalMs: options.healthIntervalMs,
      supervisor: engineSupervisor,
      metrics: options.metrics,
    }),
  };

  const slot: ReplicaSlot = {
    model: () => model,
    running: () => replicaUp,
    modelMissing,
    async start(next) {
      model = next;
      noteCacheUse();
      await sup.ask({ type: "start-child", spec: replicaSpec }, { timeoutMs: SUPERVISOR_ASK_MS });
      replicaUp = true;
    },
    async stop() {
      await sup.ask({ type: "stop-child", id: replicaId }, { timeoutMs: SUPERVISOR_ASK_MS });
      replicaUp = false;
    },
    restartNow: () => sup.ask({ type: "restart-now", id: replicaId }, { timeoutMs: SUPERVISOR_ASK_MS }),
    purgeFiles,
  };

  return {
    ref,
    spec: {
      id,
      start: supervisor({
        strategy: "rest_for_one",
        // The engine's own policy paces restarts (backoff, breaker, 10 per 60 s); this limit only
        // catches a manager or replica that fails for reasons of its own.
        intensity: { maxRestarts: 30, periodMs: 60_000 },
        children: [
          {
            id: "manager",
            start: poolManager({
              nodeId: options.nodeId,
              poolId: pool.id,
              engine: pool.engine,
              slots: pool.slots,
              ctxMax: pool.ctx,
              devices: pool.devices,
              workloads: poolWorkloads(pool),
              agent: options.agent,
              replica: replicaRef,
              replicaId,
              slot,
              log,
              readyTimeoutMs: options.readyTimeoutMs,
              unavailable: options.unavailable,
              metrics: options.metrics,
            }),
          },
          ...(options.unavailable || missingAtStart ? [] : [replicaSpec]),
        ],
      }),
    },
  };
}
