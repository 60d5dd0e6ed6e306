// What the engine replica (./replica.ts) is sent and answers: tasks and cancels from the pool
// manager, the manager's abort of open streams at a drain deadline, and the replica's own private
// messages (health polls, streams ending, the engine process coming up or going down).

import type { CrashReason } from "../../../host/index.ts";
import type { ActorRef } from "../../../runtime/index.ts";
import type { ErrorEnvelope } from "../../../contract/index.ts";
import type { EngineRequest } from "../../../adapters/engines/index.ts";
import type { TaskSinkRef } from "../../../contract/link.ts";
import type { EmbedReply } from "../../../contract/embeddings.ts";

export type ReplicaMsg =
  | { type: "submit"; task_id: string; request: EngineRequest; sink: TaskSinkRef }
  | { type: "cancel"; task_id: string }
  /** Embeds one batch of inputs (answers EmbedReply; never fails the ask). */
  | { type: "embed"; model: string; inputs: string[] }
  /** Ends every open stream with `error` (a drain's deadline passed); answers how many. */
  | { type: "abort-streams"; error: ErrorEnvelope }
  /** Private: time to poll the engine's health. */
  | { type: "health-tick" }
  | { type: "health-result"; ready: boolean; live: boolean; error?: string; reason?: string; fatal?: boolean }
  /** Private: the engine's KV cache use, read beside a health poll that found it ready. */
  | { type: "kv-result"; ratio?: number }
  | { type: "stream-done"; task_id: string; fatal?: string }
  /** Private (process engines): the engine is healthy, or it is gone and why. */
  | { type: "engine-up" }
  | { type: "engine-down"; reason: CrashReason; message: string }
  /** Private: the engine stayed up long enough to reset backoff or close a breaker. */
  | { type: "stable-check" }
  /** Private: the engine's props, read once it is ready (its context size, when it says). */
  | { type: "props-result"; ctx_max?: number };

export interface ReplicaReplies {
  "abort-streams": number;
  embed: EmbedReply;
}

export type ReplicaRef = ActorRef<ReplicaMsg, ReplicaReplies>;
