// The pool operations' state machine, its vocabulary: the state of the pool's drain, reload and
// preload, the events that move it and the effects it asks for. The transitions are in
// ./operation-machine.ts; the pool manager (./pool.ts) feeds events in and carries effects out.
// Behaviour seen from outside: docs/contract.md#pools-control.
//
//   drain:   draining at once → in-flight tasks end (or the deadline stops them) → replica stopped;
//            the pool stays draining, not live, until a reload or preload.
//   reload:  draining → stop old → start new → ready ⇒ done, new model advertised
//                                             ↘ fails/times out → stop new → start old → ready ⇒
//            rolled back (or, if the old one fails too, rollback_failed). A drain deadline passing
//            with tasks still running abandons the reload; the old engine never stopped. A reload
//            always leaves the pool undrained: it is also how a drained pool comes back.
//   preload: a drained pool, or one that runs no replica (its model file was missing at start-up,
//            or its manager restarted after a drain): start its engine → ready ⇒ serving; fails/times out → stop it ⇒ still
//            drained. An engine (re)starting or waiting out a restart delay: started now if it
//            waits, and waited for (bounded by the ready timeout) as a waiter, not an operation;
//            nothing is stopped if it fails. A ready pool: answered at once.
//   purge:   refused (busy) while tasks run or another operation is under way; else draining at
//            once → replica stopped → the model files this node cached for the pool removed ⇒ the
//            pool stays draining and stopped, not ready, last_error "purged: …", until a preload
//            or reload starts it again (and downloads the model again).
//
// One operation at a time. A replica step comes back tagged with its operation's id and a timer
// with its own id, so a stale one (of an operation that ended, a timer replaced) is ignored.

import type { ErrorEnvelope } from "../../../contract/index.ts";
import type { PoolDrainReply, PoolOpReason, PoolPreloadReply, PoolPurgeReply, PoolReloadReply } from "../../../contract/link.ts";
import type { LogFields } from "../../../runtime/index.ts";

/** How long a (re)started engine may take to become ready during a reload or preload. */
export const DEFAULT_READY_TIMEOUT_MS = 120_000;

export interface OperationConfig {
  nodeId: string;
  poolId: string;
  readyTimeoutMs: number;
  /** Set when the pool may not run on this node (GPU-only rule): reload and preload are refused. */
  unavailable?: string;
}

/** What the manager tells the machine with every event: the time and its count of running tasks. */
export interface StepEnv {
  now: number;
  leases: number;
  config: OperationConfig;
}

export interface DrainOp {
  kind: "drain";
  id: number;
  startedAt: number;
  /** waiting: for in-flight tasks (or the deadline); stopping: the replica is being stopped. */
  phase: "waiting" | "stopping";
  timer: number | null;
  /** The deadline stopped tasks that still ran. */
  forced: boolean;
  leasesAtStop: number;
}

export type ReloadPhase = "draining" | "stopping-old" | "starting-new" | "stopping-new" | "starting-old";

export interface ReloadOp {
  kind: "reload";
  id: number;
  startedAt: number;
  asker: number;
  from: string;
  to: string;
  phase: ReloadPhase;
  drainDeadlineMs: number;
  /** The drain deadline while draining, the ready timeout while starting. */
  timer: number | null;
  /** Why the new engine failed, once it has. */
  failure?: string;
}

export interface PreloadOp {
  kind: "preload";
  id: number;
  startedAt: number;
  asker: number;
  phase: "starting" | "stopping";
  timer: number | null;
  failure?: string;
}

export interface PurgeOp {
  kind: "purge";
  id: number;
  startedAt: number;
  asker: number;
  /** stopping: the replica is being stopped; removing: the cached files are being removed. */
  phase: "stopping" | "removing";
  timer: null;
}

export type Operation = DrainOp | ReloadOp | PreloadOp | PurgeOp;

/** A preload of a pool that is not drained: it starts nothing of its own and only waits. */
export interface PreloadWaiter {
  asker: number;
  timer: number;
  startedAt: number;
}

export interface PoolOpsState {
  /** The model the pool advertises (models_available). */
  model: string;
  draining: boolean;
  /**
   * No replica runs and none restarts: the pool's model file was missing (no engine was started,
   * no crash counted). A preload or a reload starts one.
   */
  stopped: boolean;
  /** The engine's readiness and liveness as its replica last reported them. */
  ready: boolean;
  live: boolean;
  engineVersion?: string;
  lastError?: string;
  op: Operation | null;
  waiters: PreloadWaiter[];
  /** Last id given to an operation or a timer. */
  seq: number;
}

export function initialState(model: string, lastError?: string, stopped = false): PoolOpsState {
  return { model, draining: false, stopped, ready: false, live: false, lastError, op: null, waiters: [], seq: 0 };
}

export type OperationEvent =
  | { type: "drain"; asker: number; deadlineMs: number }
  | { type: "reload"; asker: number; model: string; drainDeadlineMs: number }
  | { type: "preload"; asker: number }
  | { type: "purge"; asker: number }
  /** The purge's files are removed (or `error` says which could not be). */
  | { type: "purged"; op: number; removed: { path: string; bytes: number }[]; kept?: string; error?: string }
  /** The replica's engine changed state; `exited` when the replica stopped. */
  | { type: "replica-status"; ready: boolean; live?: boolean; exited?: boolean; engine_version?: string; last_error?: string }
  /** The restart policy says why the engine is down. */
  | { type: "engine-note"; last_error: string }
  /** A task ended (the count is in `env.leases`). */
  | { type: "leases-changed" }
  | { type: "stopped"; op: number; error?: string }
  | { type: "started"; op: number; error?: string }
  | { type: "timer"; timer: number }
  /** The supervisor answered a preload's restart-now: whether a waiting replica was started. */
  | { type: "kicked"; kicked: boolean };

export type PoolOpReply = PoolDrainReply | PoolReloadReply | PoolPreloadReply | PoolPurgeReply;
export type PreloadOutcome = "ready" | "already" | "failed";

export type OperationEffect =
  /** Stop the replica (first ending its open streams with `abort`), then send back `stopped`. */
  | { type: "stop-replica"; op: number; abort?: ErrorEnvelope }
  /** Start a replica whose engine loads `model`, then send back `started`. */
  | { type: "start-replica"; op: number; model: string }
  /** Start a replica waiting out its restart delay now, then send back `kicked`. */
  | { type: "restart-now" }
  /** Remove the model files this node cached for the pool, then send back `purged`. */
  | { type: "purge-files"; op: number }
  /** Send back `timer` after `ms`. */
  | { type: "arm-timer"; timer: number; ms: number }
  | { type: "cancel-timer"; timer: number }
  /** The stopped replica took its tasks with it: forget their leases. */
  | { type: "drop-leases" }
  /** Tell the agent the pool's snapshot. */
  | { type: "publish" }
  /** Answer the asker, with the snapshot as it is after this step. */
  | { type: "reply"; asker: number; reply: PoolOpReply }
  | { type: "log"; level: "info" | "warn" | "error"; message: string; fields: LogFields }
  | { type: "observe"; metric: "drainDuration" | "reloadDuration"; ms: number }
  | { type: "count"; metric: "reloadSuccess" }
  | { type: "count"; metric: "reloadFailure"; labels: { reason: PoolOpReason } }
  | { type: "count"; metric: "preloads"; labels: { outcome: PreloadOutcome } };

export interface StepResult {
  state: PoolOpsState;
  effects: OperationEffect[];
}
