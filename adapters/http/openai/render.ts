// OpenAI's response objects from a task's stream: whole completions (chat.completion,
// text_completion) and the chunks of a streamed one. Streamed chat starts with a chunk that
// carries only `role`, then one chunk per token, then an empty delta with `finish_reason`; with
// stream_options.include_usage every chunk has `usage: null` and one last chunk, without
// choices, carries the usage. Text completions stream `text_completion` objects the same way.

import type { z } from "zod";
import type { EndData, StartedData, ToolCall } from "../../../contract/index.ts";
import type { ChatCompletion, ChatCompletionChunk, FinishReason, TextCompletion, Usage } from "./schemas.ts";
import { chatLogprobs, textLogprobs, type CollectedLogprobs } from "./logprobs-render.ts";

export type ReplyKind = "chat" | "text";

export interface ReplyInfo {
  kind: ReplyKind;
  /** chatcmpl-<task_id> or cmpl-<task_id>. */
  id: string;
  /** Unix seconds. */
  created: number;
  model: string;
  includeUsage: boolean;
  /** The choice this reply's chunks belong to (`n > 1`: 0..n-1); 0 when absent. */
  index?: number;
}

export function replyId(kind: ReplyKind, taskId: string): string {
  return `${kind === "chat" ? "chatcmpl" : "cmpl"}-${taskId}`;
}

/**
 * The end event's stop_reason; an engine that does not say is judged by the count: all of
 * max_tokens spent means the limit stopped it.
 */
export function finishReason(end: z.infer<typeof EndData>, maxTokens: number): FinishReason {
  if (end.tool_calls?.length) return "tool_calls";
  if (end.stop_reason === "length" || end.stop_reason === "stop") return end.stop_reason;
  return end.tokens_out >= maxTokens ? "length" : "stop";
}

/** Prompt tokens when the engine reports none: about four characters per token (OpenAI's rule of thumb). */
export function estimateTokens(chars: number): number {
  return Math.ceil(chars / 4);
}

/**
 * Usage of a finished task. prompt_tokens is the engine's count when the started (or end) event
 * carries `tokens_in`, else the estimate above from the prompt's (or the messages') characters;
 * completion_tokens is the end event's tokens_out.
 */
export function usageOf(promptChars: number, started: z.infer<typeof StartedData> | undefined, end: z.infer<typeof EndData>): Usage {
  const reported = (started as { tokens_in?: unknown } | undefined)?.tokens_in ?? (end as { tokens_in?: unknown }).tokens_in;
  const prompt_tokens = typeof reported === "number" && Number.isInteger(reported) && reported >= 0 ? reported : estimateTokens(promptChars);
  return { prompt_tokens, completion_tokens: end.tokens_out, total_tokens: prompt_tokens + end.tokens_out };
}

/** `logprobs`: the tokens' log probabilities, when the task asked for them (logprobs-render.ts). */
export function completion(r: ReplyInfo, text: string, finish: FinishReason, usage: Usage, toolCalls?: ToolCall[], lp?: CollectedLogprobs): ChatCompletion | TextCompletion {
  const head = { id: r.id, created: r.created, model: r.model };
  if (r.kind === "text") {
    const logprobs = lp ? textLogprobs(lp, text.length - lp.t.reduce((n, t) => n + t.length, 0)) : null;
    return { ...head, object: "text_completion", choices: [{ text, index: r.index ?? 0, logprobs, finish_reason: finish }], usage };
  }
  // A turn that only called tools has no text: content null, as OpenAI sends it.
  const message = toolCalls?.length ? { role: "assistant" as const, content: text || null, refusal: null, tool_calls: toolCalls } : { role: "assistant" as const, content: text, refusal: null };
  return { ...head, object: "chat.completion", choices: [{ index: r.index ?? 0, message, logprobs: lp ? chatLogprobs(lp) : null, finish_reason: finish }], usage };
}

/** The streamed calls: one chunk whose delta carries every call whole, each with its index. */
export function toolCallsChunk(r: ReplyInfo, calls: readonly ToolCall[]): Chunk {
  const head = { id: r.id, created: r.created, model: r.model, ...(r.includeUsage ? { usage: null } : {}) };
  const delta = { tool_calls: calls.map((c, index) => ({ index, ...c })) };
  return { ...head, object: "chat.completion.chunk", choices: [{ index: r.index ?? 0, delta, logprobs: null, finish_reason: null }] };
}

type Chunk = ChatCompletionChunk | TextCompletion;

function chunk(r: ReplyInfo, choice: { text?: string; role?: "assistant"; finish?: FinishReason } | undefined): Chunk {
  const head = { id: r.id, created: r.created, model: r.model, ...(r.includeUsage ? { usage: null } : {}) };
  if (r.kind === "text") {
    const choices = choice ? [{ text: choice.text ?? "", index: r.index ?? 0, logprobs: null, finish_reason: choice.finish ?? null }] : [];
    return { ...head, object: "text_completion", choices };
  }
  const delta = { ...(choice?.role ? { role: choice.role } : {}), ...(choice?.text !== undefined ? { content: choice.text } : {}) };
  const choices = choice ? [{ index: r.index ?? 0, delta, logprobs: null, finish_reason: choice.finish ?? null }] : [];
  return { ...head, object: "chat.completion.chunk", choices };
}

/** What a stream starts with: chat announces the assistant role (with empty content, as OpenAI does). */
export function openingChunk(r: ReplyInfo, echo: string): Chunk | undefined {
  if (r.kind === "chat") return chunk(r, { role: "assistant", text: "" });
  return echo ? chunk(r, { text: echo }) : undefined;
}

export function deltaChunk(r: ReplyInfo, text: string): Chunk {
  return chunk(r, { text });
}

/**
 * The `data:` line of a token's delta chunk, as text: the reply's constant parts are serialised
 * once, only the token's own text per token. The same bytes as JSON.stringify(deltaChunk(r, t)).
 */
export function deltaLine(r: ReplyInfo): (text: string) => string {
  const mark = "\u0000llorch-token\u0000";
  const whole = JSON.stringify(deltaChunk(r, mark));
  const at = whole.indexOf(JSON.stringify(mark));
  const head = `data: ${whole.slice(0, at)}`;
  const tail = `${whole.slice(at + JSON.stringify(mark).length)}\n\n`;
  return (text) => head + JSON.stringify(text) + tail;
}

export function finishChunk(r: ReplyInfo, finish: FinishReason): Chunk {
  return r.kind === "chat" ? chunk(r, { finish }) : chunk(r, { text: "", finish });
}

/** The include_usage chunk: no choices, the usage. */
export function usageChunk(r: ReplyInfo, usage: Usage): Chunk {
  return { ...chunk(r, undefined), usage };
}
