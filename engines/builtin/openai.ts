// llama-server's OpenAI-compatible routes: POST /v1/chat/completions and /v1/completions,
// streamed (`data: {chunk}` lines, a last chunk with `finish_reason`, a `usage` chunk when
// `stream_options.include_usage`, then `data: [DONE]`) or not (one object with `usage`), and
// GET /v1/models. Chat prompts use the model's own template (chat.ts).

import { randomBytes } from "node:crypto";
import type { Clock } from "../../runtime/index.ts";
import type { ChatRenderer } from "./chat.ts";
import type { Finished } from "./engine.ts";
import { vocabSize } from "./load.ts";
import { json, readJson, sse, type Send } from "./http.ts";
import { timings, type RouteContext } from "./native.ts";
import { parseChatCompletion, parseOpenAiCompletion, type OpenAiBody } from "./params.ts";

export interface OpenAiContext extends RouteContext {
  chat: ChatRenderer;
  clock: Clock;
}

const finishReason = (g: Finished) => (g.stop_type === "limit" ? "length" : "stop");
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
  const rendered = ctx.chat.render(body.messages);
  const prompt = ctx.engine.tokenize(rendered.text);
  const sampling = { ...body, stop: [...body.stop, ...rendered.stop.filter((s) => !body.stop.includes(s))] };
  if (!body.stream) {
    const g = await ctx.engine.run(prompt, sampling, req.signal);
    return json({
      ...shape(ctx, body, "chat", false),
      choices: [{ index: 0, message: { role: "assistant", content: g.content }, logprobs: null, finish_reason: finishReason(g) }],
      usage: usage(g),
      timings: timings(g),
    });
  }
  const base = shape(ctx, body, "chat", true);
  return sse(async (send, signal) => {
    send({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] });
    const g = await ctx.engine.run(prompt, sampling, signal, (p) => send({ ...base, choices: [{ index: 0, delta: { content: p.content }, logprobs: null, finish_reason: null }] }));
    if (!g.canceled) finish(send, base, body, g, { index: 0, delta: {}, logprobs: null, finish_reason: finishReason(g) });
  }, req.signal);
}

export async function completions(ctx: OpenAiContext, req: Request): Promise<Response> {
  const body = parseOpenAiCompletion(await readJson(req));
  const prompt = ctx.engine.tokenize(body.prompt);
  if (!body.stream) {
    const g = await ctx.engine.run(prompt, body, req.signal);
    return json({
      ...shape(ctx, body, "text", false),
      choices: [{ index: 0, text: g.content, logprobs: null, finish_reason: finishReason(g) }],
      usage: usage(g),
      timings: timings(g),
    });
  }
  const base = shape(ctx, body, "text", true);
  return sse(async (send, signal) => {
    const g = await ctx.engine.run(prompt, body, signal, (p) => send({ ...base, choices: [{ index: 0, text: p.content, logprobs: null, finish_reason: null }] }));
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
