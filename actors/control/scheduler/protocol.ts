import type { ActorRef } from "../../../runtime/index.ts";
import type { AdmitOutcome, TaskSpec } from "../../../contract/index.ts";
import type { NodeEntry } from "../registry/protocol.ts";
import type { TraceCarrier } from "../../../contract/trace.ts";

export type SchedulerMsg =
  /** `trace`: the admission span's context, the parent of the task's placement and dispatch spans. */
  | { type: "admit"; request: TaskSpec; correlation_id: string; identity?: string; trace?: TraceCarrier }
  | { type: "nodes"; nodes: NodeEntry[] }
  | { type: "node-lost"; node_id: string; reason: string }
  /** From a task at its end (or cancel): leaves the queue or frees its lease; feeds service rates. */
  | { type: "task-ended"; task_id: string; decode_ms?: number; tokens_out?: number; first_token_ms?: number }
  | { type: "status" };

export interface SchedulerStatus {
  queue_depth: number;
  running: number;
  leases: Record<string, number>;
}

export interface SchedulerReplies {
  admit: AdmitOutcome;
  status: SchedulerStatus;
}

export type SchedulerRef = ActorRef<SchedulerMsg, SchedulerReplies>;
