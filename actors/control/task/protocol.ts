import type { ActorFactory, ActorRef } from "../../../runtime/index.ts";
import type { StreamSink } from "../../../adapters/http/port.ts";
import type { ErrorEnvelope, TaskSpec } from "../../../adapters/http/schemas.ts";
import type { AgentRef, TaskEngineMsg } from "../../link/protocol.ts";

export type TaskMsg =
  | TaskEngineMsg
  | { type: "subscribe"; sink: StreamSink }
  /** `cancel_if_last`: the subscriber's client went away; cancel when no one else watches. */
  | { type: "unsubscribe"; sink: StreamSink; cancel_if_last?: boolean }
  | { type: "cancel"; reason: "client" | "disconnect" }
  /** From the scheduler: run on this node's pool. */
  | { type: "assigned"; node_id: string; pool_id: string; agent: AgentRef }
  /** From the scheduler: the task cannot finish (e.g. its node was lost). */
  | { type: "fail"; error: ErrorEnvelope }
  /** Private: retention after the end is over. */
  | { type: "expire" };

export interface TaskReplies {
  subscribe: boolean;
  unsubscribe: boolean;
  cancel: "canceled";
}

export type TaskRef = ActorRef<TaskMsg, TaskReplies>;

export interface AdmissionInfo {
  queue_position: number;
  predicted_start_ms: number;
  correlation_id: string;
}

export type TaskFactory = (spec: TaskSpec, admission: AdmissionInfo) => ActorFactory<TaskMsg>;
