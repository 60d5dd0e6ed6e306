// What the client APIs (HTTP, SSE, WebSocket, OpenAI) need from the control plane: submit,
// subscribe, cancel, nodes, capabilities. Implemented by actors/control, called by adapters/http.

import type { ErrorEnvelope } from "./errors.ts";
import type { CapabilitiesV2 } from "./meta.ts";
import type { NodeInfo } from "./node.ts";
import type { AdmissionResponseV2, StreamEvent, TaskRequestV2 } from "./task.ts";
import type { TraceCarrier } from "./trace.ts";

/** A session's remaining budgets (X-Budget-* headers, SSE metrics frames). */
export interface Budgets {
  tokens_remaining: number;
  time_remaining_ms: number;
  cost_remaining: number;
}

export type AdmitOutcome =
  | { ok: true; admission: AdmissionResponseV2; budgets: Budgets }
  | { ok: false; error: ErrorEnvelope };

export interface SubmitMeta {
  correlationId: string;
  /** `token:<fp6>` or `localhost`: the key of per-token rate limits. */
  identity?: string;
  /** The admission span's trace context: the task's later spans descend from it (docs/operations.md#tracing). */
  trace?: TraceCarrier;
}


/** An in-process subscriber to a task's stream. Events arrive in order; `end`/`error` is last. */
export interface StreamSink {
  push(event: StreamEvent): void;
}

export interface Subscription {
  /** The task's session budgets when it subscribed. */
  budgets?: Budgets;
  /** `cancelIfLast`: the client went away; cancel the task if nobody else is watching it. */
  unsubscribe(options?: { cancelIfLast?: boolean }): void;
}

/** A subscription the subscriber limits refused (429 ADMISSION_REJECT, `subscriber-limit`). */
export interface SubscribeRefused {
  refused: ErrorEnvelope;
}

export interface ControlPort {
  /** Whether the control plane's actor tree is up, and how many nodes are online. */
  ready(): Promise<{ ready: boolean; nodes_online: number }>;
  submit(request: TaskRequestV2, meta: SubmitMeta): Promise<AdmitOutcome>;
  /** Undefined when the task is unknown; refused over the subscriber limits. Missed events are replayed first. */
  subscribe(taskId: string, sink: StreamSink): Promise<Subscription | SubscribeRefused | undefined>;
  /** "unknown" when no such task exists. Once this resolves, no token follows. */
  cancel(taskId: string, reason: "client" | "disconnect"): Promise<"canceled" | "unknown">;
  nodes(): Promise<NodeInfo[]>;
  /** Engines, ctx_max, workloads and concurrency from the live pools. */
  capabilities(): Promise<CapabilitiesV2>;
}
