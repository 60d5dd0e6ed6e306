// The transitions of the pool operations' state machine (drain, reload, preload, purge; states, events
// and effects in ./operation-state.ts). `step(state, event, env)` is pure: no I/O and no clock
// (`env.now` is given), so tests feed events and compare the state and effects that come out, as
// ../supervision/engine-policy.ts does for engine restarts. The pool manager (./pool.ts) carries
// the effects out: it stops and starts the replica, arms timers, answers askers, publishes.

import { apiError, poolUnavailable, poolUnready, retriableError, type ErrorEnvelope } from "../../../contract/index.ts";
import type { PoolDrainReply, PoolOpReason, PoolPreloadReply, PoolReloadReply } from "../../../contract/link.ts";
import type { DrainOp, OperationEvent, PoolOpsState, PreloadOp, PreloadWaiter, ReloadOp, StepEnv, StepResult } from "./operation-state.ts";
import { Draft } from "./operation-draft.ts";
import { purge, purged, purgeStopped } from "./operation-purge.ts";

/** The next state and the effects of `event`; `state` itself is left as it was. */
export function step(state: PoolOpsState, event: OperationEvent, env: StepEnv): StepResult {
  const d = new Draft(state, env);
  switch (event.type) {
    case "drain":
      drain(d, event.asker, event.deadlineMs);
      break;
    case "reload":
      reload(d, event.asker, event.model, event.drainDeadlineMs);
      break;
    case "preload":
      preload(d, event.asker);
      break;
    case "purge":
      purge(d, event.asker, (why) => settleWaiters(d, (w) => preloadFailed(d, w.startedAt, why)));
      break;
    case "purged":
      purged(d, event);
      break;
    case "replica-status":
      replicaStatus(d, event);
      break;
    case "engine-note":
      d.s.lastError = event.last_error;
      d.publish();
      break;
    case "leases-changed":
      leasesChanged(d);
      break;
    case "stopped":
      stopped(d, event.op, event.error);
      break;
    case "started":
      started(d, event.op, event.error);
      break;
    case "timer":
      timer(d, event.timer);
      break;
    case "kicked":
      if (event.kicked) d.log("info", `Preload of pool ${d.pool}: started its engine now instead of waiting for the restart delay`);
      break;
  }
  return { state: d.s, effects: d.effects };
}

// ---- drain ----------------------------------------------------------------------------------

function drain(d: Draft, asker: number, deadlineMs: number) {
  const { s, env } = d;
  if (s.op?.kind === "reload") return d.reply(asker, d.failure("busy", poolUnavailable(`pool ${d.pool} is being reloaded to ${s.op.to}; drain it once that is done`)));
  if (s.op?.kind === "preload") return d.reply(asker, d.failure("busy", poolUnavailable(`pool ${d.pool} is being preloaded; drain it once that is done`)));
  const accepted = (already: boolean): PoolDrainReply => ({ ok: true, node_id: env.config.nodeId, pool_id: d.pool, draining: true, already, active_leases: env.leases });
  if (s.draining) return d.reply(asker, accepted(true));
  s.draining = true;
  settleWaiters(d, (w) => preloadFailed(d, w.startedAt, "the pool is being drained"));
  const op: DrainOp = { kind: "drain", id: d.nextId(), startedAt: env.now, phase: "waiting", timer: null, forced: false, leasesAtStop: 0 };
  s.op = op;
  if (env.leases > 0) d.log("warn", `Draining pool ${d.pool} with ${env.leases} task(s) in flight`, { active_leases: env.leases, deadline_ms: deadlineMs });
  else d.log("info", `Draining pool ${d.pool}`, { active_leases: 0 });
  d.publish();
  if (env.leases === 0) stopForDrain(d, op, false);
  else op.timer = d.arm(deadlineMs);
  d.reply(asker, accepted(false));
}

function stopForDrain(d: Draft, op: DrainOp, forced: boolean) {
  d.cancel(op);
  op.phase = "stopping";
  op.forced = forced;
  op.leasesAtStop = d.env.leases;
  if (!forced) return d.emit({ type: "stop-replica", op: op.id });
  // Retriable: the pool went away under the task by an operator's decision; the client may
  // resubmit and land on another pool.
  const abort = poolUnavailable(`pool ${d.pool} on node ${d.env.config.nodeId} was drained; the task was stopped at the drain deadline`, { pool_id: d.pool });
  d.emit({ type: "stop-replica", op: op.id, abort });
}

// ---- reload ---------------------------------------------------------------------------------

function reload(d: Draft, asker: number, model: string, drainDeadlineMs: number) {
  const { s, env } = d;
  if (env.config.unavailable) return d.reply(asker, { ...d.notAllowed(), model: s.model });
  if (s.op) return d.reply(asker, { ...d.busy(s.op.kind), model: s.model });
  if (model === s.model && s.ready && !s.draining) {
    // Same model, serving: nothing to swap (a reload is idempotent).
    return d.reply(asker, { ok: true, node_id: env.config.nodeId, pool_id: d.pool, unchanged: true, previous_model: model, model, engine_version: s.engineVersion, duration_ms: 0 });
  }
  const op: ReloadOp = { kind: "reload", id: d.nextId(), startedAt: env.now, asker, from: s.model, to: model, phase: "draining", drainDeadlineMs, timer: null };
  s.op = op;
  s.draining = true;
  d.log("info", `Reloading pool ${d.pool}: ${op.from} → ${op.to}`, { from: op.from, to: op.to, active_leases: env.leases });
  d.publish();
  if (env.leases === 0) swap(d, op);
  else op.timer = d.arm(drainDeadlineMs);
}

function swap(d: Draft, op: ReloadOp) {
  d.cancel(op);
  op.phase = "stopping-old";
  d.log("info", `Stopping the engine of pool ${d.pool} to load ${op.to}`, { from: op.from, to: op.to });
  d.emit({ type: "stop-replica", op: op.id });
}

/** Starts the replica on `model` with the ready timeout. */
function start(d: Draft, op: ReloadOp | PreloadOp, model: string) {
  d.cancel(op);
  op.timer = d.arm(d.env.config.readyTimeoutMs);
  d.emit({ type: "start-replica", op: op.id, model });
}

function reloadFailure(d: Draft, op: ReloadOp, reason: PoolOpReason, error: ErrorEnvelope): PoolReloadReply {
  d.emit({ type: "count", metric: "reloadFailure", labels: { reason } });
  return { ...d.failure(reason, error), previous_model: op.from, model: d.s.model, duration_ms: d.env.now - op.startedAt };
}

/** Ends the reload with the pool undrained on `model`. */
function endReload(d: Draft, op: ReloadOp, model: string, lastError: string | undefined) {
  d.s.op = null;
  d.cancel(op);
  d.s.model = model;
  d.s.draining = false;
  // A reload always started a replica (the new engine or the old one), running or restarting now.
  d.s.stopped = false;
  d.s.lastError = lastError;
}

function reloaded(d: Draft, op: ReloadOp) {
  endReload(d, op, op.to, undefined);
  const duration = d.env.now - op.startedAt;
  d.emit({ type: "observe", metric: "reloadDuration", ms: duration });
  d.emit({ type: "count", metric: "reloadSuccess" });
  d.log("info", `Pool ${d.pool} reloaded: ${op.from} → ${op.to}`, { from: op.from, to: op.to, engine_version: d.s.engineVersion, duration_ms: duration });
  d.publish();
  const { nodeId } = d.env.config;
  d.reply(op.asker, { ok: true, node_id: nodeId, pool_id: d.pool, unchanged: false, previous_model: op.from, model: op.to, engine_version: d.s.engineVersion, duration_ms: duration });
}

function rolledBack(d: Draft, op: ReloadOp) {
  endReload(d, op, op.from, `reload to ${op.to} failed: ${op.failure}`);
  d.log("warn", `Pool ${d.pool} rolled back to ${op.from}`, { from: op.from, to: op.to, reason: op.failure });
  d.publish();
  const message = `the engine for ${op.to} did not become ready (${op.failure}); rolled back to ${op.from}`;
  d.reply(op.asker, reloadFailure(d, op, "rolled_back", apiError("POOL_UNREADY", message, { retriable: false })));
}

/** The engine being started failed: roll back, or give up if it was the rollback. True when it published. */
function engineFailed(d: Draft, op: ReloadOp, reason: string): boolean {
  if (op.phase === "starting-new") {
    op.failure = reason;
    d.cancel(op);
    op.phase = "stopping-new";
    d.log("warn", `Reload of pool ${d.pool} to ${op.to} failed; rolling back to ${op.from}`, { from: op.from, to: op.to, reason });
    d.emit({ type: "stop-replica", op: op.id });
    return false;
  }
  const lastError = `reload to ${op.to} failed (${op.failure}); restarting ${op.from} failed too: ${reason}`;
  endReload(d, op, op.from, lastError);
  d.log("error", `Pool ${d.pool} could not roll back to ${op.from}`, { from: op.from, to: op.to, reason, failure: op.failure });
  d.publish();
  d.reply(op.asker, reloadFailure(d, op, "rollback_failed", poolUnready(lastError)));
  return true;
}

/** The drain deadline passed with tasks still running: the old engine goes on serving. */
function abandonReload(d: Draft, op: ReloadOp) {
  d.s.op = null;
  d.s.draining = false;
  const { leases } = d.env;
  const message = `${leases} task(s) still ran on pool ${d.pool} at the drain deadline (${op.drainDeadlineMs} ms); reload to ${op.to} abandoned, ${op.from} still serves`;
  d.log("warn", message, { from: op.from, to: op.to, active_leases: leases });
  d.publish();
  d.reply(op.asker, reloadFailure(d, op, "drain_timeout", retriableError("DEADLINE_UNMET", message)));
}

// ---- preload --------------------------------------------------------------------------------

function preloadFailed(d: Draft, startedAt: number, message: string): PoolPreloadReply {
  d.emit({ type: "count", metric: "preloads", labels: { outcome: "failed" } });
  return { ...d.failure("preload_failed", poolUnready(`preload failed: ${message}`)), model: d.s.model, duration_ms: d.env.now - startedAt };
}

function preloadReady(d: Draft, startedAt: number, already: boolean): PoolPreloadReply {
  d.emit({ type: "count", metric: "preloads", labels: { outcome: already ? "already" : "ready" } });
  const duration_ms = already ? 0 : d.env.now - startedAt;
  return { ok: true, node_id: d.env.config.nodeId, pool_id: d.pool, already, model: d.s.model, engine_version: d.s.engineVersion, duration_ms };
}

function settleWaiters(d: Draft, result: (w: PreloadWaiter) => PoolPreloadReply) {
  for (const w of d.s.waiters) {
    d.emit({ type: "cancel-timer", timer: w.timer });
    d.reply(w.asker, result(w));
  }
  d.s.waiters = [];
}

function preload(d: Draft, asker: number) {
  const { s, env } = d;
  if (env.config.unavailable) return d.reply(asker, { ...d.notAllowed(), model: s.model });
  if (s.op) return d.reply(asker, { ...d.busy(s.op.kind), model: s.model });
  if (s.ready && !s.draining) return d.reply(asker, preloadReady(d, 0, true));
  if (!s.draining && !s.stopped) {
    s.waiters.push({ asker, startedAt: env.now, timer: d.arm(env.config.readyTimeoutMs) });
    d.log("info", `Preload of pool ${d.pool}: waiting for its engine to be ready`, { last_error: s.lastError });
    d.emit({ type: "restart-now" });
    return;
  }
  // Drained, or no replica runs: start one on the pool's model; the pool serves once ready.
  const op: PreloadOp = { kind: "preload", id: d.nextId(), startedAt: env.now, asker, phase: "starting", timer: null };
  s.op = op;
  d.log("info", `Preloading pool ${d.pool} with ${s.model}`, { model: s.model });
  start(d, op, s.model);
}

/** The preloaded engine failed: stop what is left of it; the pool stays drained. */
function giveUp(d: Draft, op: PreloadOp, reason: string) {
  op.failure = reason;
  d.cancel(op);
  op.phase = "stopping";
  d.log("warn", `Preload of pool ${d.pool} failed; the pool stays drained`, { model: d.s.model, reason });
  d.emit({ type: "stop-replica", op: op.id });
}

function preloaded(d: Draft, op: PreloadOp) {
  d.s.op = null;
  d.cancel(op);
  d.s.draining = false;
  d.s.stopped = false;
  d.s.lastError = undefined;
  d.log("info", `Pool ${d.pool} preloaded`, { model: d.s.model, engine_version: d.s.engineVersion, duration_ms: d.env.now - op.startedAt });
  d.publish();
  d.reply(op.asker, preloadReady(d, op.startedAt, false));
}

// ---- what comes back ------------------------------------------------------------------------

function replicaStatus(d: Draft, ev: Extract<OperationEvent, { type: "replica-status" }>) {
  const { s } = d;
  s.ready = ev.ready;
  s.live = ev.live ?? ev.ready;
  if (ev.engine_version) s.engineVersion = ev.engine_version;
  s.lastError = ev.last_error;
  // A replica that exits with an error while starting is an engine that failed to start.
  const failed = ev.exited && ev.last_error ? ev.last_error : undefined;
  if (ev.ready) settleWaiters(d, (w) => preloadReady(d, w.startedAt, false));
  // The engine a preload waited for failed; the restart policy goes on, the preload does not.
  else if (failed) settleWaiters(d, (w) => preloadFailed(d, w.startedAt, failed));
  if (!settleOperation(d, ev.ready, failed)) d.publish();
  leasesChanged(d);
}

/** True when the status ended the operation, which then published the snapshot itself. */
function settleOperation(d: Draft, ready: boolean, failed: string | undefined): boolean {
  const op = d.s.op;
  if (op?.kind === "preload" && op.phase === "starting") {
    if (ready) {
      preloaded(d, op);
      return true;
    }
    if (failed) giveUp(d, op, failed);
    return false;
  }
  if (op?.kind === "reload" && (op.phase === "starting-new" || op.phase === "starting-old")) {
    if (ready) {
      if (op.phase === "starting-new") reloaded(d, op);
      else rolledBack(d, op);
      return true;
    }
    if (failed) return engineFailed(d, op, failed);
  }
  return false;
}

/** No task runs any more: a waiting drain or reload goes on. */
function leasesChanged(d: Draft) {
  const op = d.s.op;
  if (!op || d.env.leases > 0) return;
  if (op.kind === "drain" && op.phase === "waiting") stopForDrain(d, op, false);
  else if (op.kind === "reload" && op.phase === "draining") swap(d, op);
}

function stopped(d: Draft, id: number, error: string | undefined) {
  const { s, env } = d;
  const op = s.op;
  if (op?.id !== id) return;
  if (op.kind === "purge") return purgeStopped(d, op, error);
  if (op.kind === "preload") {
    s.op = null;
    s.ready = false;
    s.live = false;
    s.lastError = `preload failed: ${op.failure}`;
    d.publish();
    return d.reply(op.asker, preloadFailed(d, op.startedAt, op.failure ?? "unknown"));
  }
  if (op.kind === "drain") {
    s.op = null;
    s.ready = false;
    s.live = false;
    d.emit({ type: "drop-leases" });
    const duration = env.now - op.startedAt;
    d.emit({ type: "observe", metric: "drainDuration", ms: duration });
    d.log("info", `Pool ${d.pool} drained`, { force_stopped: op.forced, duration_ms: duration, final_lease_count: op.leasesAtStop, error });
    return d.publish();
  }
  if (error) d.log("warn", `Stopping the engine of pool ${d.pool} reported an error`, { error });
  if (op.phase === "stopping-old") {
    op.phase = "starting-new";
    start(d, op, op.to);
  } else if (op.phase === "stopping-new") {
    op.phase = "starting-old";
    start(d, op, op.from);
  }
}

function started(d: Draft, id: number, error: string | undefined) {
  const op = d.s.op;
  if (op?.id !== id || !error) return;
  const reason = `the engine could not be started: ${error}`;
  if (op.kind === "preload" && op.phase === "starting") giveUp(d, op, reason);
  else if (op.kind === "reload" && (op.phase === "starting-new" || op.phase === "starting-old")) engineFailed(d, op, reason);
}

function timer(d: Draft, id: number) {
  const { s, env } = d;
  const ms = env.config.readyTimeoutMs;
  const i = s.waiters.findIndex((w) => w.timer === id);
  if (i >= 0) {
    const [w] = s.waiters.splice(i, 1);
    const why = s.lastError ? `: ${s.lastError}` : "";
    return d.reply(w!.asker, preloadFailed(d, w!.startedAt, `health check failed: the engine was not ready within ${ms} ms${why}`));
  }
  const op = s.op;
  if (!op || op.timer !== id) return;
  op.timer = null; // it fired
  if (op.kind === "drain") return stopForDrain(d, op, env.leases > 0);
  if (op.kind === "preload") {
    if (op.phase === "starting") giveUp(d, op, `health check failed: the engine did not become ready within ${ms} ms`);
    return;
  }
  if (op.phase === "draining") abandonReload(d, op);
  else if (op.phase === "starting-new" || op.phase === "starting-old") engineFailed(d, op, `the engine did not become ready within ${ms} ms`);
}
