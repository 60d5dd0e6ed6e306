// OpenAI's Responses API objects from a task: the response object (non-streamed answer, and the
// snapshot inside the lifecycle events) and the streamed events, each an SSE `event: <type>` with
// `data: {type, sequence_number, ...}`: response.created, response.in_progress,
// response.output_item.added, response.content_part.added, response.output_text.delta*,
// response.output_text.done, response.content_part.done, response.output_item.done, then
// response.completed (or response.incomplete when max_output_tokens stopped it). A failure after
// the stream began is response.failed. There is no `data: [DONE]` on this API. Tool calls come
// at the end, each a `function_call` output item after the message (output_item.added,
// function_call_arguments.delta and .done, output_item.done); a non-streamed response whose turn
// only called tools has no message item.
//
// Per token: one line built from parts serialised once (the delta's text and the sequence number
// are the only things serialised per token), and the text kept for output_text.done.

import type { z } from "zod";
import type { EndData, ErrorEnvelope, StartedData, StreamSink, ToolCall } from "../../../contract/index.ts";
import type { PulledStream } from "../pulled-stream.ts";
import { fromEnvelope } from "./errors.ts";

export interface ResponseInfo {
  /** resp_<task_id>; the message item is msg_<task_id>. */
  id: string;
  itemId: string;
  /** Unix seconds. */
  created: number;
  model: string;
  instructions: string | null;
  maxOutputTokens: number | null;
  temperature: number | null;
  topP: number | null;
  metadata: Record<string, string>;
  /** Characters of the prompt, for the usage estimate when the engine reports no prompt tokens. */
  promptChars: number;
  /** The task's max_tokens: all spent means max_output_tokens stopped it. */
  maxTokens: number;
}

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export function responseIds(taskId: string): { id: string; itemId: string } {
  return { id: `resp_${taskId}`, itemId: `msg_${taskId}` };
}

export function responsesUsage(info: ResponseInfo, started: z.infer<typeof StartedData> | undefined, end: z.infer<typeof EndData>): ResponsesUsage {
  const reported = started?.tokens_in ?? end.tokens_in;
  const input = reported !== undefined && Number.isInteger(reported) && reported >= 0 ? reported : Math.ceil(info.promptChars / 4);
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: end.tokens_out,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + end.tokens_out,
  };
}

/** Stopped by max_output_tokens: the response is `incomplete`. */
export function hitLimit(info: ResponseInfo, end: z.infer<typeof EndData>): boolean {
  if (end.stop_reason === "length") return true;
  if (end.stop_reason === "stop") return false;
  return end.tokens_out >= info.maxTokens;
}

type Status = "in_progress" | "completed" | "incomplete" | "failed";

function messageItem(info: ResponseInfo, status: Status, text: string | undefined) {
  return {
    id: info.itemId,
    type: "message",
    status,
    role: "assistant",
    content: text === undefined ? [] : [{ type: "output_text", text, annotations: [], logprobs: [] }],
  };
}

/** A call as a Responses `function_call` item; its id is `fc_` and the call's. */
export function functionCallItem(call: ToolCall, status: "in_progress" | "completed", args = call.function.arguments) {
  return { id: `fc_${call.id}`, type: "function_call", status, call_id: call.id, name: call.function.name, arguments: args };
}

/** The response object; `output` holds the message once there is text to show, then the calls. */
export function responseObject(
  info: ResponseInfo,
  status: Status,
  done?: { text: string; usage: ResponsesUsage; calls?: ToolCall[]; streamed?: boolean },
  error: { code: string; message: string } | null = null,
): Record<string, unknown> {
  const incomplete = status === "incomplete";
  const calls = done?.calls ?? [];
  const output = done
    ? [...(done.text || calls.length === 0 || done.streamed ? [messageItem(info, incomplete ? "incomplete" : "completed", done.text)] : []), ...calls.map((c) => functionCallItem(c, "completed"))]
    : [];
  return {
    id: info.id,
    object: "response",
    created_at: info.created,
    status,
    background: false,
    error,
    incomplete_details: incomplete ? { reason: "max_output_tokens" } : null,
    instructions: info.instructions,
    max_output_tokens: info.maxOutputTokens,
    model: info.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: info.temperature,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: info.topP,
    truncation: "disabled",
    usage: done?.usage ?? null,
    metadata: info.metadata,
  };
}

/** The sink that turns the task's events into Responses stream events on `out`. */
export function responseEventsSink(info: ResponseInfo, out: PulledStream): StreamSink {
  let seq = 0;
  const event = (type: string, fields: Record<string, unknown>, last = false) =>
    out.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...fields })}\n\n`, last);
  const where = { item_id: info.itemId, output_index: 0, content_index: 0 };
  // The delta line, serialised once around its two varying parts.
  const deltaHead = `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":`;
  const deltaMid = `,"item_id":${JSON.stringify(info.itemId)},"output_index":0,"content_index":0,"delta":`;
  const deltaTail = `,"logprobs":[]}\n\n`;
  let started: z.infer<typeof StartedData> | undefined;
  let text = "";

  event("response.created", { response: responseObject(info, "in_progress") });
  event("response.in_progress", { response: responseObject(info, "in_progress") });
  event("response.output_item.added", { output_index: 0, item: messageItem(info, "in_progress", undefined) });
  event("response.content_part.added", { ...where, part: { type: "output_text", text: "", annotations: [], logprobs: [] } });

  const fail = (error: { code: string; message: string }) => event("response.failed", { response: responseObject(info, "failed", undefined, error) }, true);
  /** A native envelope with OpenAI's code (rate_limit_exceeded, worker_reset, ...). */
  const failWith = (envelope: ErrorEnvelope) => {
    const e = fromEnvelope(envelope).body.error;
    fail({ code: e.code ?? "server_error", message: e.message });
  };

  return {
    push(ev) {
      switch (ev.type) {
        case "started":
          started = ev.data;
          return;
        case "token":
          text += ev.data.t;
          return out.write(deltaHead + seq++ + deltaMid + JSON.stringify(ev.data.t) + deltaTail);
        case "metrics":
          return;
        case "end": {
          if (ev.data.canceled) return fail({ code: "canceled", message: "the task was canceled before it finished" });
          const status = hitLimit(info, ev.data) ? "incomplete" : "completed";
          const usage = responsesUsage(info, started, ev.data);
          const part = { type: "output_text", text, annotations: [], logprobs: [] };
          event("response.output_text.done", { ...where, text, logprobs: [] });
          event("response.content_part.done", { ...where, part });
          event("response.output_item.done", { output_index: 0, item: messageItem(info, status, text) });
          const calls = ev.data.tool_calls ?? [];
          calls.forEach((call, k) => {
            const item = functionCallItem(call, "completed");
            const at = { item_id: item.id, output_index: k + 1 };
            event("response.output_item.added", { output_index: k + 1, item: functionCallItem(call, "in_progress", "") });
            event("response.function_call_arguments.delta", { ...at, delta: call.function.arguments });
            event("response.function_call_arguments.done", { ...at, name: call.function.name, arguments: call.function.arguments });
            event("response.output_item.done", { output_index: k + 1, item });
          });
          return event(`response.${status}`, { response: responseObject(info, status, { text, usage, calls, streamed: true }) }, true);
        }
        case "error":
          return failWith(ev.data);
      }
    },
  };
}
