// POST /v1/responses request → the same task as a chat completion. The input (a string, or a list
// of message items with input_text/output_text parts) and `instructions` become chat messages, and
// request.ts's fromChat builds the task, so /v1/responses places, streams and bills exactly like
// /v1/chat/completions. What this server does not offer is refused with a 400 naming the
// parameter (REFUSALS), never ignored: stored state (store, previous_response_id, conversation,
// background), reasoning, built-in (non-function) tools, logprobs, prompt templates. Function
// tools (`{type:"function", name, parameters}`) and `tool_choice` become the chat's; `text.format`
// its response_format; `function_call` and `function_call_output` input items an assistant call
// and the tool message that answers it.

import { z } from "zod";
import { MAX_TOKENS_LIMIT, type ChatMessage } from "./schemas.ts";
import { fromChat, type MapOutcome } from "./request.ts";

const Part = z.looseObject({ type: z.string().max(64), text: z.string().optional() });
const Item = z.looseObject({
  type: z.string().max(64).optional(),
  role: z.string().max(32).optional(),
  content: z.union([z.string(), z.array(Part).max(1000)]).optional(),
  /** function_call and function_call_output items. */
  call_id: z.string().max(256).optional(),
  name: z.string().max(64).optional(),
  arguments: z.string().optional(),
  output: z.union([z.string(), z.array(Part).max(1000)]).optional(),
});

export const ResponsesRequest = z
  .looseObject({
    model: z.string().min(1).max(1024),
    input: z.union([z.string(), z.array(Item).min(1).max(10_000)], { error: "input must be a string or a non-empty array of input items" }),
    instructions: z.string().nullish(),
    max_output_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    stream: z.boolean().nullish(),
    metadata: z.record(z.string().max(64), z.string().max(512)).nullish(),
    tools: z.array(z.unknown()).nullish(),
    tool_choice: z.unknown().optional(),
    parallel_tool_calls: z.boolean().nullish(),
    previous_response_id: z.string().nullish(),
    conversation: z.unknown().optional(),
    store: z.boolean().nullish(),
    background: z.boolean().nullish(),
    reasoning: z.unknown().optional(),
    text: z.looseObject({ format: z.looseObject({ type: z.string() }).nullish() }).nullish(),
    include: z.array(z.string()).nullish(),
    top_logprobs: z.number().int().min(0).nullish(),
    prompt: z.unknown().optional(),
    truncation: z.enum(["auto", "disabled"]).nullish(),
    service_tier: z.string().nullish(),
  })
  .describe("OpenAI's Responses API request (text in, text out). Unsupported features are refused with 400 naming the parameter.");
export type ResponsesRequest = z.infer<typeof ResponsesRequest>;

type Refusal = { param: string; message: string };

/** Each feature not offered, as the parameter that asks for it. */
const REFUSALS: ((r: ResponsesRequest) => Refusal | undefined)[] = [
  (r) => {
    const i = (r.tools ?? []).findIndex((t) => (t as { type?: unknown })?.type !== "function");
    return i >= 0 ? { param: `tools.${i}.type`, message: "only function tools are supported (no built-in tools such as web or file search)" } : undefined;
  },
  (r) => (r.previous_response_id != null ? { param: "previous_response_id", message: "responses are not stored, so they cannot be continued; send the whole conversation as input" } : undefined),
  (r) => (r.conversation != null ? { param: "conversation", message: "conversations are not stored; send the whole conversation as input" } : undefined),
  (r) => (r.store === true ? { param: "store", message: "responses are not stored; send store: false or omit it" } : undefined),
  (r) => (r.background === true ? { param: "background", message: "background responses are not supported" } : undefined),
  (r) => (r.reasoning != null ? { param: "reasoning", message: "reasoning options are not supported" } : undefined),
  (r) =>
    r.text?.format != null && !["text", "json_object", "json_schema"].includes(r.text.format.type)
      ? { param: "text.format", message: `text format '${r.text.format.type}' is not supported; only text, json_object and json_schema` }
      : undefined,
  (r) => (r.include && r.include.length > 0 ? { param: "include", message: "no extra output data can be included" } : undefined),
  (r) => (r.top_logprobs ? { param: "top_logprobs", message: "logprobs are not supported" } : undefined),
  (r) => (r.prompt != null ? { param: "prompt", message: "prompt templates are not supported; send input" } : undefined),
  (r) => (r.truncation === "auto" ? { param: "truncation", message: "automatic truncation is not supported; a request over the context is refused" } : undefined),
  (r) =>
    r.service_tier != null && r.service_tier !== "auto" && r.service_tier !== "default"
      ? { param: "service_tier", message: `service tier '${r.service_tier}' is not offered` }
      : undefined,
];

export function refusal(r: ResponsesRequest): Refusal | undefined {
  for (const check of REFUSALS) {
    const found = check(r);
    if (found) return found;
  }
  return undefined;
}

const ROLES = new Set(["user", "assistant", "system", "developer"]);
const TEXT_PARTS = new Set(["input_text", "output_text", "text"]);

function partsText(content: z.infer<typeof Item>["output"]): string {
  return typeof content === "string" ? content : (content ?? []).map((p) => p.text ?? "").join("");
}

/** One input item as a chat message: message items (with text parts), function calls and their outputs. */
function itemMessage(item: z.infer<typeof Item>, i: number): { ok: true; message: ChatMessage } | { ok: false; refusal: Refusal } {
  if (item.type === "function_call") {
    if (!item.call_id || !item.name) return { ok: false, refusal: { param: `input.${i}`, message: "a function_call item needs call_id and name" } };
    return { ok: true, message: { role: "assistant", content: null, tool_calls: [{ id: item.call_id, type: "function", function: { name: item.name, arguments: item.arguments ?? "{}" } }] } };
  }
  if (item.type === "function_call_output") {
    if (!item.call_id) return { ok: false, refusal: { param: `input.${i}.call_id`, message: "a function_call_output item needs call_id" } };
    return { ok: true, message: { role: "tool", tool_call_id: item.call_id, content: partsText(item.output) } };
  }
  if (item.type !== undefined && item.type !== "message") {
    return { ok: false, refusal: { param: `input.${i}.type`, message: `input items of type '${item.type}' are not supported; only messages, function_call and function_call_output` } };
  }
  if (!item.role || !ROLES.has(item.role)) return { ok: false, refusal: { param: `input.${i}.role`, message: "role must be user, assistant, system or developer" } };
  let text = "";
  if (typeof item.content === "string") text = item.content;
  else if (Array.isArray(item.content)) {
    for (const [j, part] of item.content.entries()) {
      if (!TEXT_PARTS.has(part.type) || typeof part.text !== "string") {
        return { ok: false, refusal: { param: `input.${i}.content.${j}`, message: `content of type '${part.type}' is not supported; only input_text and output_text` } };
      }
      text += part.text;
    }
  } else return { ok: false, refusal: { param: `input.${i}.content`, message: "content is required" } };
  return { ok: true, message: { role: item.role as ChatMessage["role"], content: text } };
}

/** The chat messages the request stands for: instructions first, then the input. */
export function responsesMessages(r: ResponsesRequest): { ok: true; messages: ChatMessage[] } | { ok: false; refusal: Refusal } {
  const messages: ChatMessage[] = [];
  if (r.instructions) messages.push({ role: "system", content: r.instructions });
  if (typeof r.input === "string") messages.push({ role: "user", content: r.input });
  else {
    for (const [i, item] of r.input.entries()) {
      const got = itemMessage(item, i);
      if (!got.ok) return got;
      // Consecutive calls (parallel calls) are one assistant turn.
      const last = messages.at(-1);
      if (got.message.tool_calls && last?.role === "assistant" && last.tool_calls && !last.content) last.tool_calls.push(...got.message.tool_calls);
      else messages.push(got.message);
    }
  }
  return { ok: true, messages };
}

/** The task, through the chat completions mapping. */
export function fromResponses(r: ResponsesRequest, messages: ChatMessage[]): MapOutcome {
  return fromChat({
    model: r.model,
    messages,
    ...(r.max_output_tokens != null ? { max_tokens: r.max_output_tokens } : {}),
    ...(r.temperature != null ? { temperature: r.temperature } : {}),
    ...(r.top_p != null ? { top_p: r.top_p } : {}),
    ...(r.tools?.length ? { tools: r.tools.map(chatTool) } : {}),
    ...(r.tool_choice != null && r.tools?.length ? { tool_choice: chatToolChoice(r.tool_choice) } : {}),
    ...(r.text?.format && r.text.format.type !== "text" ? { response_format: chatFormat(r.text.format) } : {}),
    stream: r.stream === true,
  });
}

/** A Responses function tool (`{type, name, description, parameters, strict}`) as a chat tool. */
function chatTool(t: unknown): unknown {
  const { type: _, name, description, parameters, strict } = t as Record<string, unknown>;
  return { type: "function", function: { name, ...(description != null ? { description } : {}), ...(parameters != null ? { parameters } : {}), ...(strict != null ? { strict } : {}) } };
}

function chatToolChoice(c: unknown): unknown {
  const o = c as { type?: unknown; name?: unknown };
  return typeof c === "object" && o?.type === "function" ? { type: "function", function: { name: o.name } } : c;
}

/** `text.format` `{type:"json_schema", name, schema, strict}` → the chat's nested response_format. */
function chatFormat(f: { type: string } & Record<string, unknown>): unknown {
  if (f.type !== "json_schema") return { type: f.type };
  const { type: _, ...spec } = f;
  return { type: "json_schema", json_schema: spec };
}
