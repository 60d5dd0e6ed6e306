// What an engine is asked and what it answers, as every engine adapter speaks it and as the node
// link carries it (dispatch, engine events).

import type { EngineChatMessage } from "./chat.ts";
import type { TraceCarrier } from "./trace.ts";

export interface EngineRequest {
  task_id: string;
  /** Plain text, evaluated as given; empty when `messages` is set. */
  prompt: string;
  /** A chat: the engine renders it with the model's own template (docs/api.md#chat-messages). */
  messages?: EngineChatMessage[];
  max_tokens: number;
  seed?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop?: string[];
  /** Keep generating past end-of-generation tokens until max_tokens (benchmarks, long streams). */
  ignore_eos?: boolean;
  /** W3C trace context: the control's dispatch span over the link, the node's engine.call span to the engine. */
  trace?: TraceCarrier;
  /** The client request's correlation id, for the node's log lines of this task. */
  correlation_id?: string;
}

export type EngineEvent =
  | { type: "started"; engine_version: string; tokens_in?: number }
  /**
   * `more`: the engine already sent what follows (it arrived in the same read), so whoever relays
   * tokens may wait for it and send them together; absent or false, send what you hold now.
   */
  | { type: "token"; t: string; i: number; more?: boolean }
  /** `tokens_in`: the prompt's size as the engine counted it, when it reports it only at the end. */
  | { type: "end"; tokens_out: number; decode_ms: number; stop_reason: "length" | "stop" | "canceled"; tokens_in?: number };

