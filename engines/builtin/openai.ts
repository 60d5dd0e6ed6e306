// llama-server's OpenAI-compatible routes: POST /v1/chat/completions and /v1/completions,
// streamed (`data: {chunk}` lines, a last chunk with `finish_reason`, a `usage` chunk when
// `stream_options.include_usage`, then `data: [DONE]`) or not (one object with `usage`), and
// GET /v1/models. Chat prompts use the model's own template (chat.ts). Tools and response formats
// (structured.ts): a response format constrains the text by its grammar and streams as usual;
// tool_choice `required` or a named function forces one call by grammar (no text is streamed; the
// call goes out whole, as one `delta.tool_calls` chunk, with finish_reason `tool_calls`); under
// `auto` the text is held until generation ends, then sent as a call when it is one in the chat
// wrapper's function-call syntax, else as text in one chunk.

import { randomBytes } from "node:crypto";
import type { Clock } from "../../runtime/index.ts";
import type { ChatRenderer } from "./chat.ts";
import type { Finished } from "./engine.ts";
import { vocabSize } from "./load.ts";
import { json, readJson, sse, type Send } from "./http.ts";
import { timings, type RouteContext } from "./native.ts";
import { parseChatCompletion, parseOpenAiCompletion, type HistoryCall, type OpenAiBody } from "./params.ts";
import { contentLogprobs, legacyLogprobs, type LpEntry } from "./logprobs.ts";
import { formatGrammar, parseForcedCall, parseWrapperCall, toolCallGrammar } from "./structured.ts";

export interface OpenAiContext extends RouteContext {
  chat: ChatRenderer;
  clock: Clock;
}

const finishReason = (g: Finished) => (g.stop_type === "limit" ? "length" : "stop");
const wireCalls = (calls: HistoryCall[]) => calls.map((c, index) => ({ index, id: c.id, type: "function" as const, function: { name: c.name, arguments: c.arguments } }));
/** A chat choice's `logprobs` (null unless the request asked: `logprobs: true`). */
const chatLogprobs = (entries: LpEntry[] | undefined) => (entries ? { content: contentLogprobs(entries), refusal: null } : null);
const usage = (g: Finished) => ({ prompt_tokens: g.prompt_n, completion_tokens: g.tokens_predicted, total_tokens: g.prompt_n + g.tokens_predicted });

interface Shape {
  id: string;
  object: string;
  created: number;
  model: string;
}

function shape(ctx: OpenAiContext, body: OpenAiBody, kind: "chat" | "text", chunk: boolean): Shape {
  return {
    id: `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomBytes(12).toString("hex")}`,
    object: kind === "chat" ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion",
    created: Math.floor(ctx.clock.now() / 1000),
    model: body.model ?? ctx.modelId,
  };
}

/** The stream's tail: the finishing chunk, the usage chunk when asked, `[DONE]`. */
function finish(send: Send, base: Shape, body: OpenAiBody, g: Finished, last: object) {
  send({ ...base, choices: [last], timings: timings(g) });
  if (body.include_usage) send({ ...base, choices: [], usage: usage(g) });
  send("[DONE]");
}

export async function chatCompletions(ctx: OpenAiContext, req: Request): Promise<Response> {
  const body = parseChatCompletion(await readJson(req));
  const mode = body.tools.length === 0 || body.tool_choice === "none" ? "text" : body.tool_choice === "auto" ? "auto" : "forced";
  const rendered = ctx.chat.render(body.messages, mode === "text" ? [] : body.tools);
  const prompt = ctx.engine.tokenize(rendered.text);
  const { model } = ctx.engine.loaded;
  const grammar = mode === "forced" ? await toolCallGrammar(model, body.tools, body.tool_choice) : body.format ? await formatGrammar(model, body.format) : undefined;
  const sampling = { ...body, grammar, stop: [...body.stop, ...rendered.stop.filter((s) => !body.stop.includes(s))] };
  /** The call the text makes (forced: always, when the grammar completed; auto: when the model chose one). */
  const callOf = (g: Finished): HistoryCall | undefined =>
    mode === "forced" ? parseForcedCall(g.content, body.tools) : mode === "auto" ? parseWrapperCall(g.content, ctx.chat.wrapper, body.tools) : undefined;
  if (!body.stream) {
    const g = await ctx.engine.run(prompt, sampling, req.signal);
    const call = callOf(g);
    const message = call ? { role: "assistant", content: null, tool_calls: wireCalls([call]) } : { role: "assistant", content: g.content };
    return json({
      ...shape(ctx, body, "chat", false),
      choices: [{ index: 0, message, logprobs: call ? null : chatLogprobs(g.probs), finish_reason: call ? "tool_calls" : finishReason(g) }],
      usage: usage(g),
      timings: timings(g),
    });
  }
  const base = shape(ctx, body, "chat", true);
  const live = mode === "text"; // tool modes hold the text until they know whether it is a call
  return sse(async (send, signal) => {
    send({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] });
    const g = await ctx.engine.run(prompt, sampling, signal, live ? (p) => send({ ...base, choices: [{ index: 0, delta: { content: p.content }, logprobs: chatLogprobs(p.probs), finish_reason: null }] }) : undefined);
    if (g.canceled) return;
    const call = callOf(g);
    if (call) send({ ...base, choices: [{ index: 0, delta: { tool_calls: wireCalls([call]) }, logprobs: null, finish_reason: null }] });
    else if (!live && g.content) send({ ...base, choices: [{ index: 0, delta: { content: g.content }, logprobs: chatLogprobs(g.probs), finish_reason: null }] });
    finish(send, base, body, g, { index: 0, delta: {}, logprobs: null, finish_reason: call ? "tool_calls" : finishReason(g) });
  }, req.signal);
}

export async function completions(ctx: OpenAiContext, req: Request): Promise<Response> {
  const parsed = parseOpenAiCompletion(await readJson(req));
  const body = parsed.format ? { ...parsed, grammar: await formatGrammar(ctx.engine.loaded.model, parsed.format) } : parsed;
  const prompt = ctx.engine.tokenize(body.prompt);
  if (!body.stream) {
    const g = await ctx.engine.run(prompt, body, req.signal);
    return json({
      ...shape(ctx, body, "text", false),
      choices: [{ index: 0, text: g.content, logprobs: g.probs ? legacyLogprobs(g.probs, 0) : null, finish_reason: finishReason(g) }],
      usage: usage(g),
      timings: timings(g),
    });
  }
  const base = shape(ctx, body, "text", true);
  return sse(async (send, signal) => {
    let offset = 0; // where the next piece begins in the completion's text (legacy text_offset)
    const g = await ctx.engine.run(prompt, body, signal, (p) => {
      send({ ...base, choices: [{ index: 0, text: p.content, logprobs: p.probs ? legacyLogprobs(p.probs, offset) : null, finish_reason: null }] });
      offset += p.content.length;
    });
    if (!g.canceled) finish(send, base, body, g, { index: 0, text: "", logprobs: null, finish_reason: finishReason(g) });
  }, req.signal);
}

export function models(ctx: OpenAiContext, loadedAtMs: number): Response {
  const { model } = ctx.engine.loaded;
  return json({
    object: "list",
    data: [
      {
        id: ctx.modelId,
        object: "model",
        created: Math.floor(loadedAtMs / 1000),
        owned_by: "llamacpp",
        meta: {
          vocab_type: model.vocabularyType,
          n_vocab: vocabSize(model),
          n_ctx_train: model.trainContextSize,
          n_ctx: ctx.engine.nCtx,
          n_embd: model.embeddingVectorSize,
          size: model.size,
        },
      },
    ],
  });
}
