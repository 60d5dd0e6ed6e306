// Drain, reload and preload of one pool (digest §7.3, §7.4), driven by the pool manager's messages. One operation
// at a time; every step that waits (stopping or starting the replica, a deadline, readiness) runs
// aside and comes back tagged with its operation's id, so a stale step is ignored.
//
//   drain:  draining at once → in-flight tasks end (or the deadline stops them) → replica stopped;
//           the pool stays draining, not live, until a reload.
//   reload: draining → stop old → start new → ready ⇒ done, new model advertised
//                                            ↘ fails/times out → stop new → start old → ready ⇒
//           rolled back (or, if the old one fails too, rollback_failed). A drain deadline passing
//           with tasks still running abandons the reload; the old engine never stopped.
//   A reload always leaves the pool undrained: it is also how a drained pool comes back.
//   preload: in ./preload.ts, hosted here so that it takes turns with drain and reload.

import { describe, type ActorContext, type ReplyHandle, type Timer } from "../../../runtime/index.ts";
import type { ErrorEnvelope, PoolView } from "../../../contract/index.ts";
import type { PoolDrainReply, PoolOpReason, PoolReloadReply } from "../../../contract/link.ts";
import type { PoolOptions } from "./pool.ts";
import type { PoolMsg, PoolOpResult } from "./protocol.ts";
import { preloadOperations, type PreloadOp } from "./preload.ts";

/** How long a (re)started engine may take to become ready during a reload or preload (digest: 120 s). */
export const DEFAULT_READY_TIMEOUT_MS = 120_000;

/** What the manager and its operations share. */
export interface PoolState {
  leases: Set<string>;
  engineReady: boolean;
  live: boolean;
  draining: boolean;
  slotsTotal: number;
  /** The model the pool advertises (models_available). */
  model: string;
  engineVersion?: string;
  lastError?: string;
}

export type Failure = Extract<PoolDrainReply, { ok: false }>;

export interface OperationDeps {
  ctx: ActorContext<PoolMsg>;
  options: PoolOptions;
  state: PoolState;
  publish(): void;
  snapshot(): PoolView;
  failure(reason: PoolOpReason, error: Omit<ErrorEnvelope, "pool_id">): Failure;
}

interface DrainOp {
  kind: "drain";
  id: number;
  startedAt: number;
  timer?: Timer;
  stopping: boolean;
  forced: boolean;
  leasesAtStop: number;
}

interface ReloadOp {
  kind: "reload";
  id: number;
  startedAt: number;
  from: string;
  to: string;
  phase: "draining" | "stopping-old" | "starting-new" | "stopping-new" | "starting-old";
  drainDeadlineMs: number;
  reply?: ReplyHandle<PoolOpResult<PoolReloadReply>>;
  timer?: Timer;
  /** Why the new engine failed, once it has. */
  failure?: string;
}

export function poolOperations(deps: OperationDeps) {
  const { ctx, options, state, publish, snapshot, failure } = deps;
  const { poolId, log } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  let op: DrainOp | ReloadOp | PreloadOp | undefined;
  let seq = 0;

  const now = () => ctx.clock.now();
  const fields = (extra: Record<string, unknown> = {}) => ({ pool_id: poolId, ...extra });
  const stepBack = (id: number, type: "op-stopped" | "op-started") => (o: { ok: boolean; error?: unknown }) =>
    ({ type, op: id, error: o.ok ? undefined : describe(o.error) }) as PoolMsg;

  const answer = (r: ReloadOp, reply: PoolReloadReply) => r.reply?.resolve({ reply, snapshot: snapshot() });
  const labels = { node_id: options.nodeId, pool_id: poolId };
  const reloadFailure = (r: ReloadOp, reason: PoolOpReason, error: Omit<ErrorEnvelope, "pool_id">): PoolReloadReply => {
    options.metrics?.reloadFailure.inc({ ...labels, reason });
    return { ...failure(reason, error), previous_model: r.from, model: state.model, duration_ms: now() - r.startedAt };
  };

  // ---- drain ------------------------------------------------------------------------------

  const stopForDrain = (d: DrainOp, forced: boolean) => {
    d.stopping = true;
    d.forced = forced;
    d.leasesAtStop = state.leases.size;
    d.timer?.cancel();
    // POOL_UNAVAILABLE, retriable: the pool went away under the task by an operator's decision;
    // the client may resubmit and land on another pool.
    const error: ErrorEnvelope = {
      code: "POOL_UNAVAILABLE",
      message: `pool ${poolId} on node ${options.nodeId} was drained; the task was stopped at the drain deadline`,
      retriable: true,
      retry_after_ms: 1000,
      pool_id: poolId,
    };
    const work = (async () => {
      if (forced) await options.replica.ask({ type: "abort-streams", error }, { timeoutMs: 5000 }).catch(() => 0);
      await options.slot.stop();
    })();
    ctx.pipeToSelf(work, stepBack(d.id, "op-stopped"));
  };

  const drain = (deadlineMs: number): PoolOpResult<PoolDrainReply> => {
    const result = (reply: PoolDrainReply) => ({ reply, snapshot: snapshot() });
    if (op?.kind === "reload") {
      return result(failure("busy", { code: "POOL_UNAVAILABLE", message: `pool ${poolId} is being reloaded to ${op.to}; drain it once that is done`, retriable: true, retry_after_ms: 1000 }));
    }
    if (op?.kind === "preload") {
      return result(failure("busy", { code: "POOL_UNAVAILABLE", message: `pool ${poolId} is being preloaded; drain it once that is done`, retriable: true, retry_after_ms: 1000 }));
    }
    const accepted = (already: boolean): PoolDrainReply => ({
      ok: true,
      node_id: options.nodeId,
      pool_id: poolId,
      draining: true,
      already,
      active_leases: state.leases.size,
    });
    if (state.draining) return result(accepted(true));
    state.draining = true;
    pre.failWaiters("the pool is being drained");
    const d: DrainOp = { kind: "drain", id: ++seq, startedAt: now(), stopping: false, forced: false, leasesAtStop: 0 };
    op = d;
    if (state.leases.size > 0) {
      log.warn(`Draining pool ${poolId} with ${state.leases.size} task(s) in flight`, fields({ active_leases: state.leases.size, deadline_ms: deadlineMs }));
    } else {
      log.info(`Draining pool ${poolId}`, fields({ active_leases: 0 }));
    }
    publish();
    const reply = accepted(false);
    if (state.leases.size === 0) stopForDrain(d, false);
    else d.timer = ctx.after(deadlineMs, { type: "op-deadline", op: d.id });
    return result(reply);
  };

  // ---- reload -----------------------------------------------------------------------------

  const swap = (r: ReloadOp) => {
    r.timer?.cancel();
    r.phase = "stopping-old";
    log.info(`Stopping the engine of pool ${poolId} to load ${r.to}`, fields({ from: r.from, to: r.to }));
    ctx.pipeToSelf(options.slot.stop(), stepBack(r.id, "op-stopped"));
  };

  const start = (r: ReloadOp | PreloadOp, model: string) => {
    r.timer?.cancel();
    r.timer = ctx.after(readyTimeoutMs, { type: "op-ready-timeout", op: r.id });
    ctx.pipeToSelf(options.slot.start(model), stepBack(r.id, "op-started"));
  };

  const reload = (model: string, drainDeadlineMs: number, reply?: ReplyHandle<PoolOpResult<PoolReloadReply>>) => {
    const answerNow = (result: PoolReloadReply) => reply?.resolve({ reply: result, snapshot: snapshot() });
    if (options.unavailable) return answerNow({ ...notAllowed(), model: state.model });
    if (op) return answerNow({ ...busy(op.kind), model: state.model });
    if (model === state.model && state.engineReady && !state.draining) {
      // Same model, serving: nothing to swap (digest: reload is idempotent).
      return answerNow({ ok: true, node_id: options.nodeId, pool_id: poolId, unchanged: true, previous_model: model, model, engine_version: state.engineVersion, duration_ms: 0 });
    }
    const r: ReloadOp = { kind: "reload", id: ++seq, startedAt: now(), from: state.model, to: model, phase: "draining", drainDeadlineMs, reply };
    op = r;
    state.draining = true;
    log.info(`Reloading pool ${poolId}: ${r.from} → ${r.to}`, fields({ from: r.from, to: r.to, active_leases: state.leases.size }));
    publish();
    if (state.leases.size === 0) swap(r);
    else r.timer = ctx.after(drainDeadlineMs, { type: "op-deadline", op: r.id });
  };

  const succeed = (r: ReloadOp) => {
    op = undefined;
    r.timer?.cancel();
    state.model = r.to;
    state.draining = false;
    state.lastError = undefined;
    const duration = now() - r.startedAt;
    options.metrics?.reloadDuration.observe(labels, duration);
    options.metrics?.reloadSuccess.inc(labels);
    log.info(`Pool ${poolId} reloaded: ${r.from} → ${r.to}`, fields({ from: r.from, to: r.to, engine_version: state.engineVersion, duration_ms: duration }));
    publish();
    answer(r, { ok: true, node_id: options.nodeId, pool_id: poolId, unchanged: false, previous_model: r.from, model: r.to, engine_version: state.engineVersion, duration_ms: duration });
  };

  const rollBack = (r: ReloadOp, reason: string) => {
    r.failure = reason;
    r.timer?.cancel();
    r.phase = "stopping-new";
    log.warn(`Reload of pool ${poolId} to ${r.to} failed; rolling back to ${r.from}`, fields({ from: r.from, to: r.to, reason }));
    ctx.pipeToSelf(options.slot.stop(), stepBack(r.id, "op-stopped"));
  };

  const rolledBack = (r: ReloadOp) => {
    op = undefined;
    r.timer?.cancel();
    state.model = r.from;
    state.draining = false;
    state.lastError = `reload to ${r.to} failed: ${r.failure}`;
    log.warn(`Pool ${poolId} rolled back to ${r.from}`, fields({ from: r.from, to: r.to, reason: r.failure }));
    publish();
    answer(
      r,
      reloadFailure(r, "rolled_back", {
        code: "POOL_UNREADY",
        message: `the engine for ${r.to} did not become ready (${r.failure}); rolled back to ${r.from}`,
        retriable: false,
      }),
    );
  };

  const rollbackFailed = (r: ReloadOp, reason: string) => {
    op = undefined;
    r.timer?.cancel();
    state.model = r.from;
    state.draining = false;
    state.lastError = `reload to ${r.to} failed (${r.failure}); restarting ${r.from} failed too: ${reason}`;
    log.error(`Pool ${poolId} could not roll back to ${r.from}`, fields({ from: r.from, to: r.to, reason, failure: r.failure }));
    publish();
    answer(r, reloadFailure(r, "rollback_failed", { code: "POOL_UNREADY", message: state.lastError, retriable: true, retry_after_ms: 1000 }));
  };

  /** The engine being started failed: roll back, or give up if it was the rollback. */
  const engineFailed = (r: ReloadOp, reason: string): boolean => {
    if (r.phase === "starting-new") {
      rollBack(r, reason);
      return false;
    }
    rollbackFailed(r, reason);
    return true;
  };

  function busy(kind: string) {
    return failure("busy", { code: "POOL_UNAVAILABLE", message: `pool ${poolId} is busy: a ${kind} is under way`, retriable: true, retry_after_ms: 1000 });
  }
  function notAllowed() {
    return failure("unavailable", { code: "POOL_UNAVAILABLE", message: `pool ${poolId} may not run on node ${options.nodeId}: ${options.unavailable}`, retriable: false });
  }

  const pre = preloadOperations({
    ...deps,
    readyTimeoutMs,
    labels,
    current: () => op,
    begin: (p) => {
      p.id = ++seq;
      op = p;
    },
    end: () => void (op = undefined),
    nextId: () => ++seq,
    start,
    stop: (p) => ctx.pipeToSelf(options.slot.stop(), stepBack(p.id, "op-stopped")),
    busy,
    notAllowed,
  });

  return {
    current: () => op?.kind,
    drain,
    reload,
    preload: pre.preload,
    kicked: pre.kicked,

    /** After a lease ends (or all were dropped): a waiting drain or reload may go on. */
    leasesChanged() {
      if (!op || state.leases.size > 0) return;
      if (op.kind === "drain" && !op.stopping) stopForDrain(op, false);
      else if (op.kind === "reload" && op.phase === "draining") swap(op);
    },

    /** True when the status settled the operation (which then published the snapshot). */
    replicaStatus(msg: Extract<PoolMsg, { type: "replica-status" }>): boolean {
      const settled = pre.replicaStatus(op?.kind === "preload" ? op : undefined, msg);
      if (settled !== undefined) return settled;
      if (op?.kind !== "reload" || (op.phase !== "starting-new" && op.phase !== "starting-old")) return false;
      const r = op;
      if (msg.ready) {
        if (r.phase === "starting-new") succeed(r);
        else rolledBack(r);
        return true;
      }
      // A replica that exits with an error while starting is an engine that failed to start.
      if (msg.exited && msg.last_error) return engineFailed(r, msg.last_error);
      return false;
    },

    deadline(id: number) {
      if (op?.id !== id || op.kind === "preload") return;
      if (op.kind === "drain") {
        if (!op.stopping) stopForDrain(op, state.leases.size > 0);
        return;
      }
      if (op.phase !== "draining") return;
      const r = op;
      op = undefined;
      state.draining = false;
      const message = `${state.leases.size} task(s) still ran on pool ${poolId} at the drain deadline (${r.drainDeadlineMs} ms); reload to ${r.to} abandoned, ${r.from} still serves`;
      log.warn(message, fields({ from: r.from, to: r.to, active_leases: state.leases.size }));
      publish();
      answer(r, reloadFailure(r, "drain_timeout", { code: "DEADLINE_UNMET", message, retriable: true, retry_after_ms: 1000 }));
    },

    stopped(id: number, error?: string) {
      if (op?.id !== id) return;
      if (op.kind === "preload") return pre.stopped(op);
      if (op.kind === "drain") {
        const d = op;
        op = undefined;
        state.engineReady = false;
        state.live = false;
        state.leases.clear();
        options.metrics?.drainDuration.observe(labels, now() - d.startedAt);
        log.info(`Pool ${poolId} drained`, fields({ force_stopped: d.forced, duration_ms: now() - d.startedAt, final_lease_count: d.leasesAtStop, error }));
        publish();
        return;
      }
      if (error) log.warn(`Stopping the engine of pool ${poolId} reported an error`, fields({ error }));
      if (op.phase === "stopping-old") {
        op.phase = "starting-new";
        start(op, op.to);
      } else if (op.phase === "stopping-new") {
        op.phase = "starting-old";
        start(op, op.from);
      }
    },

    started(id: number, error?: string) {
      if (op?.id !== id || !error) return;
      if (op.kind === "preload") return pre.started(op, error);
      if (op.kind !== "reload") return;
      if (op.phase === "starting-new" || op.phase === "starting-old") engineFailed(op, `the engine could not be started: ${error}`);
    },

    readyTimeout(id: number) {
      if (pre.waiterTimeout(id)) return;
      if (op?.id !== id) return;
      if (op.kind === "preload") return pre.readyTimeout(op);
      if (op.kind !== "reload") return;
      if (op.phase === "starting-new" || op.phase === "starting-old") {
        engineFailed(op, `the engine did not become ready within ${readyTimeoutMs} ms`);
      }
    },
  };
}
