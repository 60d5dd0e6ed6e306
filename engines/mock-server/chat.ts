// The mock engine's chat: POST /v1/chat/completions, as llama-server serves it (OpenAI's chunks,
// a finishing chunk, a usage chunk with stream_options.include_usage, `data: [DONE]`). The mock
// has no model template; it renders every conversation with one fixed, documented template, the
// same as the in-process mock engine's (docs/api.md#chat-messages), so tests stay deterministic:
//
//   <|{role}|>\n{content}\n    for each message, then
//   <|assistant|>\n            the turn the model writes
//
// The rendered text is then generated from exactly as a /completion prompt would be.
//
// Tools and response formats (docs/api.md#tools-and-structured-output) are answered as the
// in-process mock answers them (runtime's structuredExample): with tool_choice `required` or a named
// function one call, streamed as OpenAI's `delta.tool_calls` with finish_reason "tool_calls"; a
// json_object or json_schema format one content piece, the schema's example. Malformed ones: 400.

import { structuredExample, type ExampleCall, type StructuredAsk } from "../../runtime/index.ts";

/** The mock's chat template (see above). */
export function renderMockChat(messages: readonly { role: string; content: string }[]): string {
  let text = "";
  for (const m of messages) text += `<|${m.role}|>\n${m.content}\n`;
  return `${text}<|assistant|>\n`;
}

/** One generation, as /completion and the chat route both run it. */
export interface MockCompletion {
  prompt: string;
  n_predict: number;
  seed: number;
  temperature: number;
  top_p: number;
  stop: string[];
  stream: boolean;
  /** A structured answer replaces generation: `text` as one piece, `calls` as the turn's tool calls. */
  forced?: { text?: string; calls?: ExampleCall[] };
}

export interface MockChatRequest extends MockCompletion {
  include_usage: boolean;
}

const isObject = (v: unknown): v is Record<string, any> => typeof v === "object" && v !== null && !Array.isArray(v);

/** tools, tool_choice and response_format, checked as llama-server checks them; a string says why not. */
function parseAsk(b: Record<string, unknown>): StructuredAsk | string {
  const { tools, tool_choice, response_format } = b;
  if (tools != null && (!Array.isArray(tools) || !tools.every((t) => isObject(t) && isObject(t.function) && typeof t.function.name === "string"))) {
    return "\"tools\" must be an array of {type: \"function\", function: {name, parameters}}";
  }
  const named = isObject(tool_choice) && isObject(tool_choice.function) && typeof tool_choice.function.name === "string";
  if (tool_choice != null && !named && !["auto", "none", "required"].includes(tool_choice as string)) return "\"tool_choice\" must be auto, none, required or a named function";
  if (named && !(tools as { function: { name: string } }[] | undefined)?.some((t) => t.function.name === (tool_choice as any).function.name)) {
    return `"tool_choice" names a function not in "tools"`;
  }
  if (response_format != null && !(isObject(response_format) && ["text", "json_object", "json_schema"].includes(response_format.type))) {
    return "\"response_format\" must have type text, json_object or json_schema";
  }
  return { tools: tools as StructuredAsk["tools"], tool_choice: tool_choice as StructuredAsk["tool_choice"], response_format: response_format as StructuredAsk["response_format"] };
}

/** The request, or why it is refused (400). */
export function parseMockChat(body: unknown): MockChatRequest | string {
  if (typeof body !== "object" || body === null) return "request body must be a JSON object";
  const b = body as Record<string, unknown>;
  if (!Array.isArray(b.messages) || b.messages.length === 0) return "\"messages\" must be a non-empty array";
  const messages: { role: string; content: string }[] = [];
  for (const [i, m] of b.messages.entries()) {
    const { role, content } = (m ?? {}) as Record<string, unknown>;
    if (typeof role !== "string") return `"messages[${i}].role" must be a string`;
    // An assistant turn that only called tools has no content.
    if (typeof content !== "string" && !(content === null && role === "assistant")) return `"messages[${i}].content" must be a string`;
    messages.push({ role, content: content ?? "" });
  }
  const num = (k: string, d: number) => (typeof b[k] === "number" ? (b[k] as number) : d);
  const stop = typeof b.stop === "string" ? [b.stop] : Array.isArray(b.stop) ? b.stop.filter((s): s is string => typeof s === "string" && s !== "") : [];
  const options = b.stream_options as { include_usage?: unknown } | undefined;
  const ask = parseAsk(b);
  if (typeof ask === "string") return ask;
  const forced = structuredExample(ask, `call_mock_${Bun.hash.crc32(JSON.stringify(b.messages)).toString(16)}_0`);
  return {
    ...(forced ? { forced } : {}),
    prompt: renderMockChat(messages),
    n_predict: num("max_tokens", -1),
    seed: num("seed", -1),
    temperature: num("temperature", 0.8),
    top_p: num("top_p", 0.95),
    stop: stop.filter(Boolean),
    stream: b.stream === true,
    include_usage: options?.include_usage === true,
  };
}

/** A /completion chunk (`content`, `stop`, `tokens_predicted`, `tokens_evaluated`, `stop_type`). */
type NativeChunk = Record<string, any>;

/** Turns the native chunks of one generation into OpenAI's chat chunks (or one chat.completion). */
export function chatFramer(req: MockChatRequest, created: number) {
  const head = { id: `chatcmpl-mock-${created}`, object: "chat.completion.chunk", created, model: "mock" };
  const calls = req.forced?.calls;
  const finish = (c: NativeChunk) => (calls ? "tool_calls" : c.stop_type === "limit" ? "length" : "stop");
  const usage = (c: NativeChunk) => ({ prompt_tokens: c.tokens_evaluated, completion_tokens: c.tokens_predicted, total_tokens: c.tokens_evaluated + c.tokens_predicted });
  let first = true;
  return {
    token(c: NativeChunk): object[] {
      const out: object[] = [];
      if (first) out.push({ ...head, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
      first = false;
      out.push({ ...head, choices: [{ index: 0, delta: { content: c.content }, finish_reason: null }] });
      return out;
    },
    final(c: NativeChunk): (object | string)[] {
      const out: (object | string)[] = first ? [{ ...head, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] }] : [];
      if (calls) out.push({ ...head, choices: [{ index: 0, delta: { tool_calls: calls.map((call, index) => ({ index, ...call })) }, finish_reason: null }] });
      out.push({ ...head, choices: [{ index: 0, delta: {}, finish_reason: finish(c) }], timings: c.timings });
      if (req.include_usage) out.push({ ...head, choices: [], usage: usage(c) });
      out.push("[DONE]");
      return out;
    },
    whole(c: NativeChunk, text: string): object {
      const message = calls ? { role: "assistant", content: null, tool_calls: calls } : { role: "assistant", content: text };
      return { ...head, object: "chat.completion", choices: [{ index: 0, message, finish_reason: finish(c) }], usage: usage(c) };
    },
  };
}
