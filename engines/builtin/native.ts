// llama-server's native routes: POST /completion (streamed `data: {content, stop:false, …}` lines
// and a final `{content:"", stop:true, stop_type, stopping_word, tokens_predicted, timings}`, or
// one JSON object), GET /props, GET /slots and GET /metrics (Prometheus, `llamacpp:` names).

import type { BuiltinEngine, Finished } from "./engine.ts";
import { json, readJson, sse } from "./http.ts";
import { parseCompletion, type CompletionBody } from "./params.ts";
import { formatGrammar } from "./structured.ts";
import { contentLogprobs } from "./logprobs.ts";

export interface RouteContext {
  engine: BuiltinEngine;
  /** The id responses and /v1/models name (--alias, else the model path). */
  modelId: string;
  modelPath: string;
  chatTemplate: string;
}

export function timings(g: Finished) {
  const perToken = (ms: number, n: number) => (n > 0 ? ms / n : 0);
  const perSecond = (ms: number, n: number) => (ms > 0 ? (n * 1000) / ms : 0);
  return {
    cache_n: 0,
    prompt_n: g.prompt_n,
    prompt_ms: g.prompt_ms,
    prompt_per_token_ms: perToken(g.prompt_ms, g.prompt_n),
    prompt_per_second: perSecond(g.prompt_ms, g.prompt_n),
    predicted_n: g.tokens_predicted,
    predicted_ms: g.predicted_ms,
    predicted_per_token_ms: perToken(g.predicted_ms, g.tokens_predicted),
    predicted_per_second: perSecond(g.predicted_ms, g.tokens_predicted),
  };
}

function final(ctx: RouteContext, body: CompletionBody, g: Finished) {
  return {
    index: 0,
    content: body.stream ? "" : g.content,
    tokens: [],
    id_slot: g.slot,
    stop: true,
    model: ctx.modelId,
    tokens_predicted: g.tokens_predicted,
    tokens_evaluated: g.prompt_n,
    generation_settings: {
      n_ctx: ctx.engine.nCtx, n_predict: body.n_predict, seed: g.seed, temperature: body.temperature, top_k: body.top_k,
      top_p: body.top_p, min_p: body.min_p, stop: body.stop, ignore_eos: body.ignore_eos, stream: body.stream,
    },
    prompt: body.prompt,
    has_new_line: g.content.includes("\n"),
    truncated: false,
    stop_type: g.stop_type,
    stopping_word: g.stopping_word,
    tokens_cached: g.prompt_n + g.tokens_predicted,
    timings: timings(g),
    // n_probs: the whole text's tokens when not streamed (streamed: each chunk carries its own).
    ...(g.probs && !body.stream ? { completion_probabilities: contentLogprobs(g.probs) } : {}),
  };
}

export async function completion(ctx: RouteContext, req: Request): Promise<Response> {
  const parsed = parseCompletion(await readJson(req));
  // `json_schema` (or response_format): the output is constrained by the schema's grammar.
  const body = parsed.format ? { ...parsed, grammar: await formatGrammar(ctx.engine.loaded.model, parsed.format) } : parsed;
  const prompt = ctx.engine.tokenize(body.prompt);
  if (!body.stream) return json(final(ctx, body, await ctx.engine.run(prompt, body, req.signal)));
  return sse(async (send, signal) => {
    const g = await ctx.engine.run(prompt, body, signal, (p, slot) =>
      send({
        index: 0, content: p.content, tokens: p.tokens, stop: false, id_slot: slot, tokens_predicted: p.tokens_predicted, tokens_evaluated: prompt.length,
        ...(p.probs ? { completion_probabilities: contentLogprobs(p.probs) } : {}),
      }),
    );
    if (!g.canceled) send(final(ctx, body, g));
  }, req.signal);
}

export function props(ctx: RouteContext): Response {
  const { engine } = ctx;
  return json({
    default_generation_settings: {
      id: 0, id_task: -1, n_ctx: engine.nCtx, speculative: false, is_processing: engine.pool.busy > 0,
      params: { n_predict: -1, seed: 4294967295, temperature: 0, top_k: 40, top_p: 0.95, min_p: 0.05, stream: false, ignore_eos: false },
    },
    total_slots: engine.pool.slots.length,
    model_path: ctx.modelPath,
    chat_template: ctx.chatTemplate,
    modalities: { vision: false, audio: false },
    build_info: engine.loaded.buildInfo,
    is_sleeping: false,
    // Ours, not llama-server's: how this engine runs.
    builtin: { device: engine.loaded.device, gpu_layers: engine.loaded.gpuLayers, slot_layout: engine.loaded.layout },
  });
}

/** Tokens a slot's sequence holds in the KV cache (llama-server's `n_prompt_tokens` of a slot). */
const held = (s: { sequence: { nextTokenIndex: number } }) => s.sequence.nextTokenIndex;

export function slots(ctx: RouteContext): Response {
  const { engine } = ctx;
  return json(engine.pool.slots.map((s) => ({ id: s.id, id_task: engine.taskOf(s) ?? -1, n_ctx: s.nCtx, n_prompt_tokens: held(s), is_processing: engine.pool.isBusy(s) })));
}

/** Tokens the slots hold over their contexts (each slot's sequence has its own `nCtx` cells). */
export function kvCacheUsage(engine: RouteContext["engine"]): number {
  let tokens = 0;
  let cells = 0;
  for (const s of engine.pool.slots) (tokens += held(s)), (cells += s.nCtx);
  return cells > 0 ? Math.min(1, tokens / cells) : 0;
}

export function metrics(ctx: RouteContext): Response {
  const c = ctx.engine.counters;
  const series: [string, "counter" | "gauge", number, string][] = [
    ["prompt_tokens_total", "counter", c.prompt_tokens_total, "Number of prompt tokens processed."],
    ["prompt_seconds_total", "counter", c.prompt_seconds_total, "Prompt process time"],
    ["tokens_predicted_total", "counter", c.tokens_predicted_total, "Number of generation tokens processed."],
    ["tokens_predicted_seconds_total", "counter", c.tokens_predicted_seconds_total, "Predict process time"],
    ["n_decode_total", "counter", c.n_decode_total, "Total number of llama_decode() calls"],
    ["requests_processing", "gauge", ctx.engine.pool.busy, "Number of requests processing."],
    ["requests_deferred", "gauge", ctx.engine.pool.deferred, "Number of requests deferred."],
    ["kv_cache_usage_ratio", "gauge", kvCacheUsage(ctx.engine), "KV-cache usage. 1 means 100 percent usage."],
  ];
  const text = series.map(([name, type, v, help]) => `# HELP llamacpp:${name} ${help}\n# TYPE llamacpp:${name} ${type}\nllamacpp:${name} ${v}\n`).join("");
  return new Response(text, { headers: { "Content-Type": "text/plain; version=0.0.4" } });
}
