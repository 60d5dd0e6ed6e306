// What an engine is asked and what it answers, as every engine adapter speaks it and as the node
// link carries it (dispatch, engine events), and which request features each engine kind honours.

import type { ChatTool, EngineChatMessage, ResponseFormat, ToolCall, ToolChoice } from "./chat.ts";
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
  /** Functions the model may call, and whether it must (docs/api.md#tools-and-structured-output). */
  tools?: ChatTool[];
  tool_choice?: ToolChoice;
  /** Structured output: the engine constrains generation with a grammar. */
  response_format?: ResponseFormat;
  presence_penalty?: number;
  frequency_penalty?: number;
  /** Token id (decimal) → logit bias, -100 (never) to 100. */
  logit_bias?: Record<string, number>;
  /** Report each generated token's log probability (docs/api.md#logprobs); absent: none, at no cost. */
  logprobs?: boolean;
  /** With `logprobs`: the most likely alternatives per token, 0 to 20. */
  top_logprobs?: number;
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
  | { type: "token"; t: string; i: number; more?: boolean; lp?: TokenLogprob }
  /**
   * `tokens_in`: the prompt's size as the engine counted it, when it reports it only at the end.
   * `tool_calls`: the function calls the model made (whole, once generation is over).
   */
  | { type: "end"; tokens_out: number; decode_ms: number; stop_reason: "length" | "stop" | "canceled"; tokens_in?: number; tool_calls?: ToolCall[] };

/** Most alternatives per token a task may ask for (`top_logprobs`), as OpenAI allows. */
export const MAX_TOP_LOGPROBS = 20;

/**
 * A generated token's log probability (natural log, ≤ 0) and, when asked for, the most likely
 * alternatives at its position (`t`: their text), most likely first. Only a task that asked for
 * `logprobs` carries them.
 */
export interface TokenLogprob {
  logprob: number;
  top?: { t: string; logprob: number }[];
}

/** Request features not every engine honours; a task needing one its pools lack is refused (400). */
export type EngineFeature = "tools" | "json_object" | "json_schema" | "penalties" | "logit_bias" | "logprobs";

/**
 * What each pool `engine` kind honours. The control plane refuses, at admission, a task needing a
 * feature that no online pool serving its model has; the adapters refuse it too (a task placed on
 * a pool that lacks it, in a fleet of mixed engines).
 */
export const ENGINE_FEATURES: Readonly<Record<string, readonly EngineFeature[]>> = {
  builtin: ["tools", "json_object", "json_schema", "penalties", "logit_bias", "logprobs"],
  llamacpp: ["tools", "json_object", "json_schema", "penalties", "logit_bias", "logprobs"],
  openai: ["tools", "json_object", "json_schema", "penalties", "logit_bias", "logprobs"],
  tgi: ["tools", "json_object", "json_schema", "penalties"],
  mock: ["tools", "json_object", "json_schema"],
  "mock-server": ["tools", "json_object", "json_schema"],
};

/** The request field that asks for each feature (the `param` of a refusal). */
export interface FeatureNeed {
  feature: EngineFeature;
  param: string;
}

/** The features a request needs, each with the field that asks for it. Sampling-only fields need none. */
export function neededFeatures(r: Pick<EngineRequest, "tools" | "tool_choice" | "response_format" | "presence_penalty" | "frequency_penalty" | "logit_bias" | "logprobs">): FeatureNeed[] {
  const needs: FeatureNeed[] = [];
  if (r.tools && r.tool_choice !== "none") needs.push({ feature: "tools", param: "tools" });
  if (r.response_format?.type === "json_object") needs.push({ feature: "json_object", param: "response_format" });
  if (r.response_format?.type === "json_schema") needs.push({ feature: "json_schema", param: "response_format" });
  if (r.presence_penalty) needs.push({ feature: "penalties", param: "presence_penalty" });
  if (r.frequency_penalty) needs.push({ feature: "penalties", param: "frequency_penalty" });
  if (r.logit_bias && Object.keys(r.logit_bias).length > 0) needs.push({ feature: "logit_bias", param: "logit_bias" });
  if (r.logprobs) needs.push({ feature: "logprobs", param: "logprobs" });
  return needs;
}

/** The first need the engine kind does not honour; undefined for an engine kind not in the table. */
export function unmetFeature(engine: string, needs: readonly FeatureNeed[]): FeatureNeed | undefined {
  const has = ENGINE_FEATURES[engine];
  if (!has) return undefined;
  return needs.find((n) => !has.includes(n.feature));
}

/** The refusal's message; `<param>: …` first, so the OpenAI surface can name the param. */
export function featureMessage(need: FeatureNeed, engines: readonly string[]): string {
  return `${need.param}: not supported by engine ${engines.join(", ")} (${need.feature})`;
}
