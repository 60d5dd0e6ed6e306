// What the pool manager (./pool.ts) is sent and answers: tasks and their ends from the agent and
// the replica, status from the replica and the restart policy, and the operator's drain, reload
// and preload (docs/contract.md#pools-control). Also the manager's handle on its replica slot.
// The replica's own messages are in ../replica/protocol.ts.

import type { ActorRef } from "../../../runtime/index.ts";
import type { PoolView, PreparationStep } from "../../../contract/index.ts";
import type { EngineRequest } from "../../../adapters/engines/index.ts";
import type { EmbedReply } from "../../../contract/embeddings.ts";
import type { NodePoolHealth, PoolDrainReply, PoolPreloadReply, PoolPurgeReply, PoolReloadReply, TaskSinkRef } from "../../../contract/link.ts";
import type { PurgeResult } from "../models/index.ts";

export type PoolMsg =
  | { type: "dispatch"; task_id: string; request: EngineRequest; sink: TaskSinkRef }
  | { type: "cancel"; task_id: string }
  /** From a replica: its engine's state changed; `exited` when the replica stopped (for any reason). */
  | {
      type: "replica-status";
      replica_id: string;
      ready: boolean;
      live?: boolean;
      exited?: boolean;
      engine_version?: string;
      slots_total?: number;
      last_error?: string;
    }
  /** From a replica: its engine's context per task, from the engine's props; the pools file's `ctx` wins. */
  | { type: "engine-props"; ctx_max: number }
  /** From a replica: its engine's KV cache use in [0,1] at a health poll (undefined: unknown). */
  | { type: "kv-usage"; ratio?: number }
  /** From a replica: a request finished (any way) and its slot is free. */
  | { type: "released"; task_id: string }
  /** From the agent: the GPU driver failed (message) or answers again (no message). */
  | { type: "gpu-fault"; message?: string }
  /** From the engine's restart policy: why the engine is down and when it comes back. */
  | { type: "engine-note"; last_error: string }
  /** From the model resolver: a preparation step of the pool's model changed (download, verify). */
  | { type: "prep-step"; step: PreparationStep }
  /** From the replica: the stream's last event is on its way to the task; `released` follows. */
  | { type: "ending"; task_id: string }
  | { type: "snapshot" }
  | { type: "health" }
  /** From the agent: embed one batch with the replica's engine (answers EmbedReply). */
  | { type: "embed"; model: string; inputs: string[] }
  /** Refuse new work now; stop the engine once in-flight work ends or `deadline_ms` passes. */
  | { type: "drain"; deadline_ms: number }
  /** Drain, swap the engine onto `model`, and roll back to the old model if the new one fails. */
  | { type: "reload"; model: string; drain_deadline_ms: number }
  /** Start a drained pool's engine again, or wait for a (re)starting one; answer once ready. */
  | { type: "preload" }
  /** Stop the engine and remove the model files this node cached for the pool; refused while tasks run. */
  | { type: "purge" }
  /** Private: the purge's files are removed, or why not. */
  | { type: "op-purged"; op: number; result?: PurgeResult; error?: string }
  /** Private: the replica stopped or started for a drain, reload or preload, tagged with its operation. */
  | { type: "op-stopped"; op: number; error?: string }
  | { type: "op-started"; op: number; error?: string }
  /** Private: a timer of an operation (a deadline, a ready timeout) fired. */
  | { type: "op-timer"; timer: number }
  /** Private: a preload asked the supervisor to start a replica waiting out its restart delay. */
  | { type: "preload-kicked"; kicked: boolean };

/** A drain or reload answer, with the snapshot it left so the agent can heartbeat it first. */
export interface PoolOpResult<R> {
  reply: R;
  snapshot: PoolView;
}

export interface PoolReplies {
  snapshot: PoolView;
  health: NodePoolHealth;
  embed: EmbedReply;
  drain: PoolOpResult<PoolDrainReply>;
  reload: PoolOpResult<PoolReloadReply>;
  preload: PoolOpResult<PoolPreloadReply>;
  purge: PoolOpResult<PoolPurgeReply>;
}

export type PoolRef = ActorRef<PoolMsg, PoolReplies>;

/**
 * The pool's engine replica as the manager controls it during drain, reload and preload. The replica runs
 * under the pool's supervisor; stopping it removes it (no restart), starting it adds a fresh one
 * whose engine loads `model`, also at every later crash restart.
 */
export interface ReplicaSlot {
  /** The model the replica's engine loads at its next (re)start. */
  model(): string;
  /** False when no replica runs or waits to restart (not started, or stopped by a drain). */
  running(): boolean;
  /** Why the replica's engine cannot start now: its local model file is missing. */
  modelMissing(): string | undefined;
  start(model: string): Promise<void>;
  /** Starts a replica that waits out its restart delay (backoff, open breaker) now; false when it was not waiting. */
  restartNow(): Promise<boolean>;
  /** Stops the replica (aborting what it still runs) and waits until it is gone. */
  stop(): Promise<void>;
  /** Removes the model files this node downloaded for the replica's model (never a local path of the pools file). */
  purgeFiles(): Promise<PurgeResult>;
}
