import type { ActorFactory, ActorRef } from "../../../runtime/index.ts";
import type { Budgets, ErrorEnvelope, StreamEvent, StreamSink, TaskSpec } from "../../../contract/index.ts";
import type { AgentRef, TaskEngineMsg } from "../../../contract/link.ts";
import type { TraceCarrier } from "../../../contract/trace.ts";
import type { StreamChunk } from "../../../adapters/storage/state-store.ts";
import type { TranscriptHeader } from "./transcript.ts";
import type { MetricsTickMsg, TickTarget } from "./ticker.ts";

export type TaskMsg =
  | TaskEngineMsg
  | { type: "subscribe"; sink: StreamSink }
  /** `cancel_if_last`: the subscriber's client went away; cancel when no one else watches. */
  | { type: "unsubscribe"; sink: StreamSink; cancel_if_last?: boolean }
  | { type: "cancel"; reason: "client" | "disconnect" }
  /** From the scheduler: run on this node's pool. */
  | { type: "assigned"; node_id: string; pool_id: string; agent: AgentRef }
  /** From the scheduler: the task cannot finish (its node was lost, it was dropped...). */
  | { type: "fail"; error: ErrorEnvelope }
  /** Private: timers and answers to the task's own asks. */
  | { type: "deadline" }
  | { type: "watchdog"; kind: "wall" | "idle" }
  /** From the shared ticker (ticker.ts), to every streaming task. */
  | MetricsTickMsg
  | { type: "metrics-snapshot"; queue_depth: number; budgets?: Budgets }
  | { type: "warmth"; kv_warmth: boolean }
  /** The transcript is committed (or could not be): the last event may go out. */
  | { type: "closed"; last?: StreamChunk }
  | { type: "expire" };

export interface TaskReplies {
  subscribe: { budgets: Budgets };
  unsubscribe: boolean;
  cancel: "canceled";
}

export type TaskRef = ActorRef<TaskMsg, TaskReplies>;

export interface AdmissionInfo {
  queue_position: number;
  predicted_start_ms: number;
  correlation_id: string;
  /** The admission span's context (docs/operations.md#tracing): the dispatch span's parent. */
  trace?: TraceCarrier;
  budgets: Budgets;
}

/** A task's way to the other control actors, wired by the control plane. */
export interface TaskHooks {
  queueDepth(): Promise<number>;
  /** The shared clock of `metrics` frames: a task is on it from its first token to its end. */
  ticker: { add(target: TickTarget): void; remove(target: TickTarget): void };
  budgets(session_id: string | undefined): Promise<Budgets>;
  /** At the first token: whether the session's KV is warm on this replica. */
  warm(session_id: string, at: { node_id: string; pool_id: string; replica_id: string }): Promise<boolean>;
  spend(session_id: string, task_id: string, tokens_out: number, decode_ms: number): void;
  /** The task's stream and transcript in the state store. */
  stream: StreamHooks;
}

/** Wired by the control plane to the state store (task/stream-store.ts). */
export interface StreamHooks {
  /** Appends a chunk of the stream; resolves once committed (a failed commit is retried, not dropped). */
  append(task_id: string, chunk: StreamChunk): Promise<void>;
  /** The stored events of [from, to), in order. */
  replay(task_id: string, from: number, to: number): Promise<StreamEvent[]>;
  /**
   * Appends the last chunk, assembles the transcript from the stored stream and stores it as an
   * artifact. Resolves once it is committed, or once the failure is logged and counted; never
   * rejects. A stream that is all in `last` (nothing stored before) needs no chunk at all: its
   * transcript is made from `last` alone, and `finish` answers false (no chunk was stored).
   */
  finish(task_id: string, last: StreamChunk | undefined, header: TranscriptHeader): Promise<boolean>;
  /** The task is gone: its stored chunks may go (the transcript holds the events). */
  discard(task_id: string): void;
}

export interface TranscriptArtifact {
  kind: "trace";
  content: {
    job_id: string;
    session_id?: string;
    request: Record<string, unknown>;
    seed?: number;
    outcome: "completed" | "canceled" | "failed";
    tokens_out: number;
    decode_time_ms: number;
    queue_time_ms: number;
    error?: ErrorEnvelope;
    /** The stream's events in order, consecutive tokens folded into `tokens` entries. */
    events: (StreamEvent | { type: "tokens"; data: { from: number; t: string[] } })[];
  };
  tags: string[];
  metadata: Record<string, string>;
}

export interface TaskTimeouts {
  /** Whole decode, from the engine's start (timeouts.wall_ms). */
  wall_ms?: number;
  /** Between two tokens (timeouts.idle_ms). */
  idle_ms?: number;
}

export type TaskFactory = (spec: TaskSpec, admission: AdmissionInfo) => ActorFactory<TaskMsg>;
