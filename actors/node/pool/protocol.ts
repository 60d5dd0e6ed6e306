import type { ActorRef } from "../../../runtime/index.ts";
import type { PoolView } from "../../../adapters/http/schemas.ts";
import type { EngineRequest } from "../../../adapters/engines/index.ts";
import type { TaskSinkRef } from "../../link/protocol.ts";

export type PoolMsg =
  | { type: "dispatch"; task_id: string; request: EngineRequest; sink: TaskSinkRef }
  | { type: "cancel"; task_id: string }
  /** From a replica: its engine's readiness changed. */
  | { type: "replica-status"; replica_id: string; ready: boolean; engine_version?: string; slots_total?: number; last_error?: string }
  /** From a replica: a request finished (any way) and its slot is free. */
  | { type: "released"; task_id: string }
  | { type: "snapshot" };

export interface PoolReplies {
  snapshot: PoolView;
}

export type PoolRef = ActorRef<PoolMsg, PoolReplies>;

export type ReplicaMsg =
  | { type: "submit"; task_id: string; request: EngineRequest; sink: TaskSinkRef }
  | { type: "cancel"; task_id: string }
  /** Private: time to poll the engine's health. */
  | { type: "health-tick" }
  | { type: "health-result"; ready: boolean; error?: string }
  | { type: "stream-done"; task_id: string; fatal?: string };

export type ReplicaRef = ActorRef<ReplicaMsg>;
