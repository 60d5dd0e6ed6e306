// A local stand-in for Hugging Face text-generation-inference (TGI), reproducing its router's wire
// format for adapter tests:
//   GET /health  → 200 (empty body), or 503 {"error":"unhealthy","error_type":"healthcheck"}
//   GET /info    → {model_id, model_sha, model_pipeline_tag, max_concurrent_requests, max_best_of,
//                   max_stop_sequences, max_input_tokens, max_total_tokens, validation_workers,
//                   max_client_batch_size, router, version, sha, docker_label}
//   POST /generate_stream {inputs, parameters} → SSE `data:{json}` lines (axum: no space after the
//   colon): per token {"index","token":{"id","text","logprob","special"},"generated_text":null,
//   "details":null}; the last one carries generated_text, and details {finish_reason: length |
//   eos_token | stop_sequence, generated_tokens, seed, input_length} only when the request asked for
//   `details:true`. Errors inside the stream (HTTP 200) are {"error","error_type"}: validation,
//   overloaded, generation, incomplete_generation. The EOS token is streamed with special:true and
//   left out of generated_text; a stop sequence stays in it.
// Validation follows TGI's: temperature > 0, 0 < top_p < 1, top_k > 0, max_new_tokens > 0,
// input + max_new_tokens ≤ max_total_tokens, at most max_stop_sequences stops.
// Source: huggingface/text-generation-inference router/src/{lib,server,validation,infer}.rs.
//   bun tests/standins/tgi-server.ts [--port N] [--model-id ID]

import { RealClock } from "../../runtime/index.ts";
import { standinTokens } from "./openai-server.ts";

export interface TgiFaults {
  /** /health answers 503 (the shards are down). */
  unhealthy?: boolean;
  /** Every generation is refused with {error:"Model is overloaded", error_type:"overloaded"}. */
  overloaded?: boolean;
  /** After this many tokens, a `generation` error event ends the stream (a shard failed). */
  errorAfterTokens?: number;
  /** After this many tokens the server dies: connections drop, the port stops answering. */
  crashAfterTokens?: number;
}

export interface TgiStandinOptions {
  modelId?: string;
  version?: string;
  maxInputTokens?: number;
  maxTotalTokens?: number;
  maxConcurrentRequests?: number;
  /** End-of-sequence (a special `</s>` token) after this many tokens. */
  eosAfterTokens?: number;
  faults?: TgiFaults;
  port?: number;
}

export interface TgiStandin {
  url: string;
  faults: TgiFaults;
  requests: { method: string; path: string; authorization: string | null; body: any }[];
  canceled: number;
  whenCanceled(n?: number): Promise<void>;
  close(): Promise<void>;
}

const EOS = { id: 2, text: "</s>", logprob: -0.01, special: true };

export function startTgiStandin(options: TgiStandinOptions = {}): TgiStandin {
  const modelId = options.modelId ?? "standin/tiny-model";
  const maxTotal = options.maxTotalTokens ?? 2048;
  const maxInput = options.maxInputTokens ?? maxTotal - 1;
  const info = {
    model_id: modelId, model_sha: null, model_pipeline_tag: "text-generation",
    max_concurrent_requests: options.maxConcurrentRequests ?? 128, max_best_of: 2, max_stop_sequences: 4,
    max_input_tokens: maxInput, max_total_tokens: maxTotal, validation_workers: 2, max_client_batch_size: 4,
    router: "text-generation-router", version: options.version ?? "3.0.1", sha: null, docker_label: null,
  };
  const clock = new RealClock();
  const enc = new TextEncoder();
  const event = (obj: unknown) => enc.encode(`data:${JSON.stringify(obj)}\n\n`);
  const errorEvent = (error: string, error_type: string) => event({ error, error_type });
  const oneEvent = (bytes: Uint8Array) => new Response(bytes, { headers: { "Content-Type": "text/event-stream" } });

  /** TGI's validation message for bad parameters, or undefined. */
  function invalid(inputs: unknown, p: Record<string, any>): string | undefined {
    if (typeof inputs !== "string" || inputs === "") return "`inputs` cannot be empty";
    if (p.temperature != null && !(p.temperature > 0)) return "`temperature` must be strictly positive";
    if (p.top_p != null && !(p.top_p > 0 && p.top_p < 1)) return "`top_p` must be > 0.0 and < 1.0";
    if (p.top_k != null && !(Number.isInteger(p.top_k) && p.top_k > 0)) return "`top_k` must be strictly positive";
    const maxNew = p.max_new_tokens ?? 100;
    if (!(Number.isInteger(maxNew) && maxNew > 0)) return "`max_new_tokens` must be strictly positive";
    const stops = p.stop ?? [];
    if (stops.length > info.max_stop_sequences) return `\`stop\` must have less than ${info.max_stop_sequences} elements. Given: ${stops.length}`;
    const inputLength = inputs.split(/\s+/).filter(Boolean).length + 1;
    if (inputLength > maxInput) return `\`inputs\` must have less than ${maxInput} tokens. Given: ${inputLength}`;
    if (inputLength + maxNew > maxTotal) return `\`inputs\` tokens + \`max_new_tokens\` must be <= ${maxTotal}. Given: ${inputLength} \`inputs\` tokens and ${maxNew} \`max_new_tokens\``;
    return undefined;
  }

  function generateStream(body: any, signal: AbortSignal): Response {
    const inputs = body?.inputs;
    const p: Record<string, any> = body?.parameters ?? {};
    const bad = invalid(inputs, p);
    if (bad) return oneEvent(errorEvent(`Input validation error: ${bad}`, "validation"));
    if (standin.faults.overloaded) return oneEvent(errorEvent("Model is overloaded", "overloaded"));
    const maxNew: number = p.max_new_tokens ?? 100;
    const stops: string[] = p.stop ?? [];
    const inputLength = String(inputs).split(/\s+/).filter(Boolean).length + 1;
    const tokens = standinTokens(inputs, Number(p.seed ?? 0));
    let text = "";
    let index = 0;
    let finished = false;
    const details = (finish_reason: string) => (p.details ? { finish_reason, generated_tokens: index, seed: p.do_sample ? (p.seed ?? 0) : null, input_length: inputLength } : null);
    const stream = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (finished) return;
        const { crashAfterTokens, errorAfterTokens } = standin.faults;
        if (crashAfterTokens !== undefined && index >= crashAfterTokens) {
          await clock.sleep(25); // a crashed server had sent the tokens before
          return void server.stop(true);
        }
        if (errorAfterTokens !== undefined && index >= errorAfterTokens) {
          finished = true;
          c.enqueue(errorEvent("Request failed during generation: Server error: CUDA out of memory", "generation"));
          return c.close();
        }
        index++;
        const eos = options.eosAfterTokens !== undefined && index >= options.eosAfterTokens;
        const t = tokens.next().value!;
        const token = eos ? EOS : { id: 100 + (Bun.hash.crc32(t) % 1000), text: t, logprob: -0.5, special: false };
        if (!eos) text += t;
        const finish = eos ? "eos_token" : stops.some((s) => text.includes(s)) ? "stop_sequence" : index >= maxNew ? "length" : null;
        finished = finish !== null;
        c.enqueue(event({ index, token, generated_text: finished ? text : null, details: finished ? details(finish!) : null }));
        if (finished) c.close();
      },
      cancel() {
        if (!finished) markCanceled();
        finished = true;
      },
    });
    signal.addEventListener("abort", () => {
      if (!finished) markCanceled();
      finished = true;
    }, { once: true });
    return new Response(stream, { headers: { "Content-Type": "text/event-stream", "x-compute-type": "gpu+optimized", "X-Accel-Buffering": "no" } });
  }

  const server = Bun.serve({
    port: options.port ?? 0,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      let body: any;
      if (req.method === "POST") {
        try {
          body = await req.json();
        } catch {
          return new Response("Failed to parse the request body as JSON", { status: 400 });
        }
      }
      standin.requests.push({ method: req.method, path, authorization: req.headers.get("authorization"), body });
      if (path === "/health" && req.method === "GET") {
        return standin.faults.unhealthy ? Response.json({ error: "unhealthy", error_type: "healthcheck" }, { status: 503 }) : new Response(null, { status: 200 });
      }
      if (path === "/info" && req.method === "GET") return Response.json(info);
      if (path === "/generate_stream" && req.method === "POST") return generateStream(body, req.signal);
      return new Response(null, { status: 404 });
    },
  });

  const waiters = new Set<{ n: number; resolve: () => void }>();
  function markCanceled() {
    standin.canceled++;
    for (const w of waiters) if (standin.canceled >= w.n) (waiters.delete(w), w.resolve());
  }
  const standin: TgiStandin = {
    url: `http://127.0.0.1:${server.port}`,
    faults: { ...options.faults },
    requests: [],
    canceled: 0,
    whenCanceled: (n = 1) => (standin.canceled >= n ? Promise.resolve() : new Promise((resolve) => void waiters.add({ n, resolve }))),
    close: async () => {
      await server.stop(true);
    },
  };
  return standin;
}

if (import.meta.main) {
  const i = process.argv.indexOf("--port");
  const m = process.argv.indexOf("--model-id");
  const s = startTgiStandin({ port: i > 0 ? Number(process.argv[i + 1]) : 0, modelId: m > 0 ? process.argv[m + 1] : undefined });
  console.log(JSON.stringify({ msg: "tgi stand-in listening", url: s.url }));
}
