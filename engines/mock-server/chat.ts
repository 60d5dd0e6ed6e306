// The mock engine's chat: POST /v1/chat/completions, as llama-server serves it (OpenAI's chunks,
// a finishing chunk, a usage chunk with stream_options.include_usage, `data: [DONE]`). The mock
// has no model template; it renders every conversation with one fixed, documented template, the
// same as the in-process mock engine's (docs/api.md#chat-messages), so tests stay deterministic:
//
//   <|{role}|>\n{content}\n    for each message, then
//   <|assistant|>\n            the turn the model writes
//
// The rendered text is then generated from exactly as a /completion prompt would be.

/** The mock's chat template (see above). */
export function renderMockChat(messages: readonly { role: string; content: string }[]): string {
  let text = "";
  for (const m of messages) text += `<|${m.role}|>\n${m.content}\n`;
  return `${text}<|assistant|>\n`;
}

export interface MockChatRequest {
  prompt: string;
  n_predict: number;
  seed: number;
  temperature: number;
  top_p: number;
  stop: string[];
  stream: boolean;
  include_usage: boolean;
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
    if (typeof content !== "string") return `"messages[${i}].content" must be a string`;
    messages.push({ role, content });
  }
  const num = (k: string, d: number) => (typeof b[k] === "number" ? (b[k] as number) : d);
  const stop = typeof b.stop === "string" ? [b.stop] : Array.isArray(b.stop) ? b.stop.filter((s): s is string => typeof s === "string" && s !== "") : [];
  const options = b.stream_options as { include_usage?: unknown } | undefined;
  return {
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
  const finish = (c: NativeChunk) => (c.stop_type === "limit" ? "length" : "stop");
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
      out.push({ ...head, choices: [{ index: 0, delta: {}, finish_reason: finish(c) }], timings: c.timings });
      if (req.include_usage) out.push({ ...head, choices: [], usage: usage(c) });
      out.push("[DONE]");
      return out;
    },
    whole(c: NativeChunk, text: string): object {
      return { ...head, object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finish(c) }], usage: usage(c) };
    },
  };
}
