// Pool manager: leases and readiness of one pool. Dispatches accepted requests to its replica,
// publishes a snapshot to the agent whenever something placement cares about changes, and runs
// the pool's drain, reload and preload (digest §7.3, §7.4); their steps are in ./operations.ts.

import type { ActorFactory, Logger } from "../../../runtime/index.ts";
import type { NodeMetrics } from "../../../adapters/metrics/index.ts";
import type { ErrorEnvelope, PoolView, PreparationStep } from "../../../contract/index.ts";
import type { NodePoolHealth, PoolOpReason, PoolPreloadReply, PoolReloadReply } from "../../../contract/link.ts";
import type { AgentInternalRef } from "../agent/protocol.ts";
import { poolOperations, type PoolState } from "./operations.ts";
import type { PoolMsg, PoolOpResult, ReplicaRef, ReplicaSlot } from "./protocol.ts";

export interface PoolOptions {
  nodeId: string;
  poolId: string;
  engine: string;
  slots: number;
  /** Context length the pool serves, when configured. */
  ctxMax?: number;
  /** GPU device ids of the pool's mask. */
  devices?: number[];
  agent: AgentInternalRef;
  replica: ReplicaRef;
  replicaId: string;
  /** Stops and starts the replica, and knows the model its engine loads. */
  slot: ReplicaSlot;
  log: Logger;
  /** How long a (re)started engine may take to become ready during a reload; default 120 s. */
  readyTimeoutMs?: number;
  /** Set when the pool may not run on this node (GPU-only rule): it stays unready with this reason. */
  unavailable?: string;
  /** Drain and reload durations and outcomes are counted here. */
  metrics?: NodeMetrics;
}

export function poolManager(options: PoolOptions): ActorFactory<PoolMsg> {
  return (ctx) => {
    const { poolId, log } = options;
    const state: PoolState = {
      leases: new Set<string>(),
      engineReady: false,
      live: false,
      draining: false,
      slotsTotal: options.slots,
      // A restarted manager finds the model a reload left in the slot, not the configured one.
      model: options.slot.model(),
      lastError: options.unavailable,
    };

    // Preparation steps under way (model download, verification), by step id.
    const preparation = new Map<string, PreparationStep>();
    // Engines elsewhere (openai, tgi) do not use this node's GPUs.
    const usesGpu = options.engine !== "openai" && options.engine !== "tgi";
    let gpuFault: string | undefined;
    const snapshot = (): PoolView => ({
      pool_id: poolId,
      // Draining takes the pool out of placement at once (digest: readiness 0); so does a GPU fault.
      ready: state.engineReady && !state.draining && gpuFault === undefined,
      draining: state.draining,
      engine: options.engine,
      engine_version: state.engineVersion,
      slots_total: state.slotsTotal,
      slots_free: Math.max(0, state.slotsTotal - state.leases.size),
      ...(options.ctxMax !== undefined ? { ctx_max: options.ctxMax } : {}),
      ...(options.devices && options.devices.length > 0 ? { devices: options.devices } : {}),
      replica_id: options.replicaId,
      // Models present on the node, ready or not: a restarting pool still holds its model, so
      // tasks for it queue instead of being refused; placement checks readiness separately.
      models_available: [state.model],
      last_error: gpuFault ? `GPU driver error: ${gpuFault}` : state.lastError,
      ...(preparation.size > 0 ? { preparation: [...preparation.values()] } : {}),
    });
    const publish = () => options.agent.tell({ type: "pool-status", snapshot: snapshot() });
    const health = (): NodePoolHealth => ({
      node_id: options.nodeId,
      pool_id: poolId,
      live: state.live,
      ready: state.engineReady && !state.draining,
      draining: state.draining,
      operation: ops.current(),
      engine: options.engine,
      engine_version: state.engineVersion,
      model: state.model,
      active_leases: state.leases.size,
      slots_free: Math.max(0, state.slotsTotal - state.leases.size),
      slots_total: state.slotsTotal,
      last_error: state.lastError,
    });
    const failure = (reason: PoolOpReason, error: Omit<ErrorEnvelope, "pool_id">) => ({
      ok: false as const,
      node_id: options.nodeId,
      pool_id: poolId,
      reason,
      error: { ...error, pool_id: poolId },
    });
    const ops = poolOperations({ ctx, options, state, publish, failure, snapshot });

    // The control plane frees its lease the moment a task ends or its cancel is acknowledged and
    // may dispatch the next task at once, while this pool's slot frees only when the engine has
    // stopped that stream. A dispatch that meets a full pool whose leases are ending (canceled,
    // or their last event sent) waits here for one of them instead of being refused. Bounded by
    // the number of such leases.
    const canceling = new Set<string>();
    const parked: Extract<PoolMsg, { type: "dispatch" }>[] = [];

    const refuse = (d: Extract<PoolMsg, { type: "dispatch" }>, message: string) =>
      d.sink.tell({ type: "engine-error", error: { code: "POOL_UNAVAILABLE", message, retriable: true, retry_after_ms: 1000, pool_id: poolId } });

    const submit = (d: Extract<PoolMsg, { type: "dispatch" }>) => {
      state.leases.add(d.task_id);
      const sent = options.replica.tell({ type: "submit", task_id: d.task_id, request: d.request, sink: d.sink });
      if (!sent.ok) {
        state.leases.delete(d.task_id);
        return void refuse(d, `replica of pool ${poolId} is restarting`);
      }
      publish();
    };

    const dispatch = (d: Extract<PoolMsg, { type: "dispatch" }>) => {
      if (state.draining) return void refuse(d, `pool ${poolId} is draining`);
      if (!state.engineReady) return void refuse(d, `pool ${poolId} is not ready`);
      if (state.leases.size >= state.slotsTotal) {
        if (parked.length < canceling.size) return void parked.push(d);
        return void refuse(d, `pool ${poolId} has no free slot`);
      }
      submit(d);
    };

    /** A slot freed (or the pool changed): start parked dispatches that fit, refuse the rest if they never will. */
    const unpark = () => {
      while (parked.length > 0 && (state.draining || !state.engineReady || state.leases.size < state.slotsTotal || parked.length > canceling.size)) {
        dispatch(parked.shift()!);
      }
    };

    return {
      init() {
        publish();
      },
      receive(msg) {
        switch (msg.type) {
          case "dispatch":
            return dispatch(msg);
          case "cancel": {
            const i = parked.findIndex((d) => d.task_id === msg.task_id);
            if (i >= 0) return void parked.splice(i, 1); // never started: nothing to stop
            if (state.leases.has(msg.task_id)) {
              canceling.add(msg.task_id);
              options.replica.tell({ type: "cancel", task_id: msg.task_id });
            }
            return;
          }
          case "gpu-fault":
            if (!usesGpu || gpuFault === msg.message) return;
            gpuFault = msg.message;
            log[gpuFault ? "error" : "info"](gpuFault ? `Pool ${poolId} is not ready: GPU driver error: ${gpuFault}` : `Pool ${poolId}: the GPU driver answers again`, { pool_id: poolId });
            publish();
            return;
          case "engine-note":
            state.lastError = msg.last_error;
            publish();
            return;
          case "prep-step":
            // A completed step is done with; a failed one stays until the next attempt replaces it.
            if (msg.step.status === "completed") {
              if (!preparation.delete(msg.step.id)) return;
            } else {
              preparation.set(msg.step.id, msg.step);
            }
            publish();
            return;
          case "ending":
            if (state.leases.has(msg.task_id)) canceling.add(msg.task_id);
            return;
          case "released":
            canceling.delete(msg.task_id);
            if (state.leases.delete(msg.task_id)) {
              publish();
              ops.leasesChanged();
            }
            unpark();
            return;
          case "replica-status": {
            const was = state.engineReady;
            state.engineReady = msg.ready;
            state.live = msg.live ?? msg.ready;
            if (msg.engine_version) state.engineVersion = msg.engine_version;
            if (msg.slots_total) state.slotsTotal = msg.slots_total;
            state.lastError = msg.last_error;
            if (msg.ready) preparation.clear();
            // A replica that went down dropped its requests; their slots are free again.
            if (!msg.ready) {
              state.leases.clear();
              canceling.clear();
            }
            if (was !== state.engineReady) {
              log.info(state.engineReady ? `Pool ${poolId} is ready` : `Pool ${poolId} is not ready`, {
                pool_id: poolId,
                replica_id: msg.replica_id,
                engine_version: state.engineVersion,
                last_error: state.lastError,
              });
            }
            // The operation may settle on this status (and publish itself); otherwise publish here.
            if (!ops.replicaStatus(msg)) publish();
            ops.leasesChanged();
            unpark();
            return;
          }
          case "snapshot":
            return snapshot();
          case "health":
            return health();
          case "drain": {
            const reply = ops.drain(msg.deadline_ms);
            unpark(); // draining: parked dispatches are refused
            return reply;
          }
          case "reload": {
            const reply = ctx.takeReply<PoolOpResult<PoolReloadReply>>();
            ops.reload(msg.model, msg.drain_deadline_ms, reply);
            return;
          }
          case "preload": {
            const reply = ctx.takeReply<PoolOpResult<PoolPreloadReply>>();
            ops.preload(reply);
            return;
          }
          case "preload-kicked":
            return ops.kicked(msg.kicked);
          case "op-deadline":
            return ops.deadline(msg.op);
          case "op-stopped":
            return ops.stopped(msg.op, msg.error);
          case "op-started":
            return ops.started(msg.op, msg.error);
          case "op-ready-timeout":
            return ops.readyTimeout(msg.op);
        }
      },
    };
  };
}
