// Pool manager: leases and readiness of one pool. Dispatches accepted requests to its replica,
// publishes a snapshot to the agent whenever something placement cares about changes, and runs
// the pool's drain, reload, preload and purge (docs/contract.md#pools-control): their state machine
// decides (./operation-machine.ts, pure), this actor feeds it events and carries out its effects.

import { describe, type ActorFactory, type Logger, type ReplyHandle, type Timer } from "../../../runtime/index.ts";
import type { NodeMetrics } from "../../../adapters/metrics/index.ts";
import { poolUnavailable, type EmbedReply, type PoolView, type PreparationStep, type Workload } from "../../../contract/index.ts";
import type { NodePoolHealth } from "../../../contract/link.ts";
import type { AgentInternalRef } from "../agent/protocol.ts";
import type { ReplicaRef } from "../replica/protocol.ts";
import { step } from "./operation-machine.ts";
import { DEFAULT_READY_TIMEOUT_MS, initialState, type OperationConfig, type OperationEffect, type OperationEvent, type PoolOpReply } from "./operation-state.ts";
import type { PoolMsg, PoolOpResult, ReplicaSlot } from "./protocol.ts";

export interface PoolOptions {
  nodeId: string;
  poolId: string;
  engine: string;
  slots: number;
  /** Context length the pool serves, when configured. */
  ctxMax?: number;
  /** GPU device ids of the pool's mask. */
  devices?: number[];
  /** What the pool serves (advertised in its snapshot). */
  workloads?: Workload[];
  agent: AgentInternalRef;
  replica: ReplicaRef;
  replicaId: string;
  /** Stops and starts the replica, and knows the model its engine loads. */
  slot: ReplicaSlot;
  log: Logger;
  /** How long a (re)started engine may take to become ready during a reload or preload; default 120 s. */
  readyTimeoutMs?: number;
  /** Set when the pool may not run on this node (GPU-only rule): it stays unready with this reason. */
  unavailable?: string;
  /** Drain, reload and preload durations and outcomes are counted here. */
  metrics?: NodeMetrics;
}

export function poolManager(options: PoolOptions): ActorFactory<PoolMsg> {
  return (ctx) => {
    const { poolId, log } = options;
    // Tasks on the replica, by task id, and how many it can run.
    const leases = new Set<string>();
    let slotsTotal = options.slots;
    // The pools file's ctx, else what the engine reports: admission refuses a task's ctx beyond it.
    let engineCtxMax: number | undefined;
    const ctxMax = () => options.ctxMax ?? engineCtxMax;
    // Readiness, the advertised model and the drain, reload or preload under way. A restarted
    // manager finds the model a reload left in the slot, not the configured one.
    // No replica runs (its model file was missing at start-up, or a drain stopped it before this
    // manager restarted): a preload or reload starts one.
    const stopped = !options.unavailable && !options.slot.running();
    let ops = initialState(options.slot.model(), options.unavailable ?? (stopped ? options.slot.modelMissing() : undefined), stopped);

    // Preparation steps under way (model download, verification), by step id.
    const preparation = new Map<string, PreparationStep>();
    // Engines elsewhere (openai, tgi) do not use this node's GPUs.
    const usesGpu = options.engine !== "openai" && options.engine !== "tgi";
    let gpuFault: string | undefined;
    // The engine's KV cache use at its latest health poll; only while the replica is up.
    let kvRatio: number | undefined;
    const snapshot = (): PoolView => ({
      pool_id: poolId,
      // Draining takes the pool out of placement at once; so does a GPU fault.
      ready: ops.ready && !ops.draining && gpuFault === undefined,
      draining: ops.draining,
      engine: options.engine,
      engine_version: ops.engineVersion,
      slots_total: slotsTotal,
      slots_free: Math.max(0, slotsTotal - leases.size),
      ...(ctxMax() !== undefined ? { ctx_max: ctxMax() } : {}),
      ...(options.workloads ? { workloads: options.workloads } : {}),
      ...(options.devices && options.devices.length > 0 ? { devices: options.devices } : {}),
      replica_id: options.replicaId,
      // Models present on the node, ready or not: a restarting pool still holds its model, so
      // tasks for it queue instead of being refused; placement checks readiness separately.
      models_available: [ops.model],
      last_error: gpuFault ? `GPU driver error: ${gpuFault}` : ops.lastError,
      ...(preparation.size > 0 ? { preparation: [...preparation.values()] } : {}),
      ...(kvRatio !== undefined ? { kv_cache_usage_ratio: kvRatio } : {}),
    });
    const publish = () => options.agent.tell({ type: "pool-status", snapshot: snapshot() });
    const health = (): NodePoolHealth => ({
      node_id: options.nodeId,
      pool_id: poolId,
      live: ops.live,
      ready: ops.ready && !ops.draining,
      draining: ops.draining,
      operation: ops.op?.kind,
      engine: options.engine,
      engine_version: ops.engineVersion,
      model: ops.model,
      active_leases: leases.size,
      slots_free: Math.max(0, slotsTotal - leases.size),
      slots_total: slotsTotal,
      last_error: ops.lastError,
    });

    // ---- the operations' state machine: events in, effects carried out here ----

    const config: OperationConfig = { nodeId: options.nodeId, poolId, readyTimeoutMs: options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, unavailable: options.unavailable };
    const timers = new Map<number, Timer>();
    // Who asked for a drain, reload or preload, until the machine answers them.
    const askers = new Map<number, ReplyHandle<PoolOpResult<PoolOpReply>>>();
    let askerSeq = 0;
    const asker = () => {
      const id = ++askerSeq;
      const reply = ctx.takeReply<PoolOpResult<PoolOpReply>>();
      if (reply) askers.set(id, reply);
      return id;
    };
    const stepBack = (type: "op-stopped" | "op-started", op: number) => (o: { ok: boolean; error?: unknown }) =>
      ({ type, op, error: o.ok ? undefined : describe(o.error) }) as PoolMsg;
    const stopReplica = async (abort: Extract<OperationEffect, { type: "stop-replica" }>["abort"]) => {
      if (abort) await options.replica.ask({ type: "abort-streams", error: abort }, { timeoutMs: 5000 }).catch(() => 0);
      await options.slot.stop();
    };
    const labels = { node_id: options.nodeId, pool_id: poolId };

    const perform = (e: OperationEffect) => {
      switch (e.type) {
        case "stop-replica":
          return ctx.pipeToSelf(stopReplica(e.abort), stepBack("op-stopped", e.op));
        case "start-replica":
          return ctx.pipeToSelf(options.slot.start(e.model), stepBack("op-started", e.op));
        case "purge-files":
          return ctx.pipeToSelf(options.slot.purgeFiles(), (o): PoolMsg => (o.ok ? { type: "op-purged", op: e.op, result: o.value } : { type: "op-purged", op: e.op, error: describe(o.error) }));
        case "restart-now":
          return ctx.pipeToSelf(options.slot.restartNow(), (o): PoolMsg => ({ type: "preload-kicked", kicked: o.ok && o.value }));
        case "arm-timer":
          return void timers.set(e.timer, ctx.after(e.ms, { type: "op-timer", timer: e.timer }));
        case "cancel-timer":
          timers.get(e.timer)?.cancel();
          return void timers.delete(e.timer);
        case "drop-leases":
          return leases.clear();
        case "publish":
          return publish();
        case "reply":
          askers.get(e.asker)?.resolve({ reply: e.reply, snapshot: snapshot() });
          return void askers.delete(e.asker);
        case "log":
          return log[e.level](e.message, e.fields);
        case "observe":
          return options.metrics?.[e.metric].observe(labels, e.ms);
        case "count":
          if (e.metric === "reloadSuccess") return options.metrics?.reloadSuccess.inc(labels);
          if (e.metric === "reloadFailure") return options.metrics?.reloadFailure.inc({ ...labels, ...e.labels });
          return options.metrics?.preloads.inc({ ...labels, ...e.labels });
      }
    };
    const run = (event: OperationEvent) => {
      const result = step(ops, event, { now: ctx.clock.now(), leases: leases.size, config });
      ops = result.state;
      for (const effect of result.effects) perform(effect);
    };

    // The control plane frees its lease the moment a task ends or its cancel is acknowledged and
    // may dispatch the next task at once, while this pool's slot frees only when the engine has
    // stopped that stream. A dispatch that meets a full pool whose leases are ending (canceled,
    // or their last event sent) waits here for one of them instead of being refused. Bounded by
    // the number of such leases.
    const canceling = new Set<string>();
    const parked: Extract<PoolMsg, { type: "dispatch" }>[] = [];

    const refuse = (d: Extract<PoolMsg, { type: "dispatch" }>, message: string) =>
      d.sink.tell({ type: "engine-error", error: poolUnavailable(message, { pool_id: poolId }) });

    const submit = (d: Extract<PoolMsg, { type: "dispatch" }>) => {
      leases.add(d.task_id);
      const sent = options.replica.tell({ type: "submit", task_id: d.task_id, request: d.request, sink: d.sink });
      if (!sent.ok) {
        leases.delete(d.task_id);
        return void refuse(d, `replica of pool ${poolId} is restarting`);
      }
      publish();
    };

    const dispatch = (d: Extract<PoolMsg, { type: "dispatch" }>) => {
      if (ops.draining) return void refuse(d, `pool ${poolId} is draining`);
      if (!ops.ready) return void refuse(d, `pool ${poolId} is not ready`);
      if (leases.size >= slotsTotal) {
        if (parked.length < canceling.size) return void parked.push(d);
        return void refuse(d, `pool ${poolId} has no free slot`);
      }
      submit(d);
    };

    /** An embedding batch goes straight to a ready replica: it holds no lease (docs/api.md#post-v1embeddings). */
    const embed = (msg: Extract<PoolMsg, { type: "embed" }>) => {
      const reply = ctx.takeReply<EmbedReply>();
      const no = (why: string) => reply?.resolve({ ok: false, error: poolUnavailable(why, { pool_id: poolId }) });
      if (ops.draining) return no(`pool ${poolId} is draining`);
      if (!ops.ready || gpuFault !== undefined) return no(`pool ${poolId} is not ready`);
      if (msg.model !== ops.model) return no(`pool ${poolId} serves model '${ops.model}', not '${msg.model}'`);
      options.replica.ask({ type: "embed", model: msg.model, inputs: msg.inputs }, { deadline: reply?.deadline }).then(
        (r) => reply?.resolve(r),
        (error) => no(`replica of pool ${poolId} did not answer: ${describe(error)}`),
      );
    };

    /** A slot freed (or the pool changed): start parked dispatches that fit, refuse the rest if they never will. */
    const unpark = () => {
      while (parked.length > 0 && (ops.draining || !ops.ready || leases.size < slotsTotal || parked.length > canceling.size)) {
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
            if (leases.has(msg.task_id)) {
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
            return run({ type: "engine-note", last_error: msg.last_error });
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
            if (leases.has(msg.task_id)) canceling.add(msg.task_id);
            return;
          case "released":
            canceling.delete(msg.task_id);
            if (leases.delete(msg.task_id)) {
              publish();
              run({ type: "leases-changed" });
            }
            unpark();
            return;
          case "kv-usage": {
            const ratio = msg.ratio !== undefined && msg.ratio >= 0 && msg.ratio <= 1 ? msg.ratio : undefined;
            if (ratio === kvRatio) return;
            kvRatio = ratio;
            return publish(); // the agent sends it with the next periodic heartbeat
          }
          case "engine-props":
            engineCtxMax = msg.ctx_max;
            if (options.ctxMax === undefined) publish();
            return;
          case "replica-status": {
            if (msg.slots_total) slotsTotal = msg.slots_total;
            if (msg.ready) preparation.clear();
            // A replica that went down dropped its requests; their slots are free again.
            if (!msg.ready) {
              leases.clear();
              canceling.clear();
              kvRatio = undefined;
            }
            if (ops.ready !== msg.ready) {
              log.info(msg.ready ? `Pool ${poolId} is ready` : `Pool ${poolId} is not ready`, {
                pool_id: poolId,
                replica_id: msg.replica_id,
                engine_version: msg.engine_version || ops.engineVersion,
                last_error: msg.last_error,
              });
            }
            // Readiness is recorded and published; an operation waiting on it may go on or end.
            const { ready, live, exited, engine_version, last_error } = msg;
            run({ type: "replica-status", ready, live, exited, engine_version, last_error });
            unpark();
            return;
          }
          case "snapshot":
            return snapshot();
          case "health":
            return health();
          case "embed":
            return embed(msg);
          case "drain":
            run({ type: "drain", asker: asker(), deadlineMs: msg.deadline_ms });
            unpark(); // draining: parked dispatches are refused
            return;
          case "reload":
            return run({ type: "reload", asker: asker(), model: msg.model, drainDeadlineMs: msg.drain_deadline_ms });
          case "preload":
            return run({ type: "preload", asker: asker() });
          case "purge":
            run({ type: "purge", asker: asker() });
            unpark(); // draining: parked dispatches are refused
            return;
          case "op-purged":
            return run({ type: "purged", op: msg.op, removed: msg.result?.removed ?? [], kept: msg.result?.kept, error: msg.error });
          case "preload-kicked":
            return run({ type: "kicked", kicked: msg.kicked });
          case "op-stopped":
            return run({ type: "stopped", op: msg.op, error: msg.error });
          case "op-started":
            return run({ type: "started", op: msg.op, error: msg.error });
          case "op-timer":
            timers.delete(msg.timer);
            return run({ type: "timer", timer: msg.timer });
        }
      },
    };
  };
}
