// Adapter for llama.cpp's `llama-server` HTTP API (and our built-in engine, which speaks it):
// GET /health (200 ready, 503 loading), GET /props (slots, context, build_info), and
// POST /completion with `stream:true`, whose SSE `data: {content, stop, ...}` lines become
// started → token* → end. A chat task (`messages`) goes to POST /v1/chat/completions instead, so
// the server renders it with the model's own chat template (openai-stream.ts reads the chunks). Real llama.cpp sends no `event:` names (only `data:` lines); a mid-stream
// error arrives as `data: {"error": {code, message, type}}`. Closing the connection cancels the
// request in the server and frees its slot. Log probabilities (a task that asked): `n_probs` on
// /completion, `logprobs`/`top_logprobs` on chat (logprobs.ts reads both).
//
// A dropped connection is never fatal here: whether the engine died is the replica's call, made
// from the process's exit, not from one broken socket.

import { createParser, type EventSourceMessage } from "eventsource-parser";
import { RealClock, type Clock } from "../../runtime/index.ts";
import { deadline } from "./http-stream.ts";
import { LlamaKvReader } from "./kv-usage.ts";
import { openAiStream } from "./openai-stream.ts";
import { postEmbeddings } from "./embeddings.ts";
import { EngineError, type EngineAdapter, type EngineEmbeddings, type EngineErrorCode, type EngineEvent, type EngineHealth, type EngineProps, type EngineRequest } from "./types.ts";
import { traceHeaders } from "../tracing/w3c.ts";
import { formatSchema, llamaLogitBias, openAiFeatureFields, refuseUnsupported } from "./request-features.ts";
import { askTop, llamaProbabilities, tokensWithLogprobs, wantedTop } from "./logprobs.ts";

export interface LlamaCppEngineOptions {
  /** e.g. `http://127.0.0.1:8081`. */
  baseUrl: string;
  /** Budget of one GET /health; a hung engine reads as not live. */
  healthTimeoutMs?: number;
  /** Budget of GET /props (30 s, like any plain request to an engine). */
  requestTimeoutMs?: number;
  /** Until the completion's response headers arrive (the stream's establishment). */
  streamOpenTimeoutMs?: number;
  /** Longest silence between stream chunks before DECODE_TIMEOUT; unset: no limit. */
  streamIdleTimeoutMs?: number;
  /** Engine version until /props has told us the build. */
  version?: string;
  /** The server shares one KV cache among its slots (`--kv-unified`): its KV use counts a slot's context once. */
  kvUnified?: boolean;
  clock?: Clock;
}

/** llama-server `stop_type` (or the older `stopped_*` flags) → our stop reason. */
function stopReason(chunk: Record<string, unknown>): "length" | "stop" {
  const type = chunk.stop_type;
  if (type === "limit" || chunk.stopped_limit === true) return "length";
  if (type === "eos" || type === "word" || chunk.stopped_eos === true || chunk.stopped_word === true) return "stop";
  return chunk.truncated === true ? "length" : "stop";
}

function errorCode(error: { code?: unknown; type?: unknown }): EngineErrorCode {
  return error.code === 503 || error.type === "unavailable_error" ? "POOL_UNAVAILABLE" : "INTERNAL";
}

export class LlamaCppEngine implements EngineAdapter {
  readonly engine = "llamacpp";
  private readonly base: string;
  private readonly clock: Clock;
  private engineVersion: string;
  private readonly running = new Map<string, AbortController>();
  private readonly kv: LlamaKvReader;

  constructor(private readonly options: LlamaCppEngineOptions) {
    this.base = options.baseUrl.replace(/\/+$/, "");
    this.clock = options.clock ?? new RealClock();
    this.engineVersion = options.version ?? "llamacpp-unknown";
    this.kv = new LlamaKvReader({ base: this.base, clock: this.clock, timeoutMs: options.healthTimeoutMs, unified: options.kvUnified });
  }

  /** `llamacpp:kv_cache_usage_ratio` on /metrics, else the slots' tokens over their contexts (/slots). */
  kvCacheUsage(signal?: AbortSignal): Promise<number | undefined> {
    return this.kv.read(signal);
  }

  version(): string {
    return this.engineVersion;
  }

  async health(signal?: AbortSignal): Promise<EngineHealth> {
    const limit = deadline(this.clock, this.options.healthTimeoutMs ?? 2000, "GET /health");
    try {
      const res = await fetch(`${this.base}/health`, { signal: signal ? AbortSignal.any([signal, limit.signal]) : limit.signal });
      await res.arrayBuffer().catch(() => undefined);
      // 503 is "Loading model": the process answers, the model is not there yet.
      return { live: true, ready: res.status === 200 };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return { live: false, ready: false }; // refused, reset or timed out
    } finally {
      limit.cancel();
    }
  }

  async props(signal?: AbortSignal): Promise<EngineProps> {
    const limit = deadline(this.clock, this.options.requestTimeoutMs ?? 30_000, "GET /props");
    try {
      const res = await fetch(`${this.base}/props`, { signal: signal ? AbortSignal.any([signal, limit.signal]) : limit.signal });
      const body = (await res.json().catch(() => undefined)) as Record<string, any> | undefined;
      if (!res.ok || !body) throw new EngineError(errorCode(body?.error ?? { code: res.status }), `engine /props answered HTTP ${res.status}: ${body?.error?.message ?? "no JSON body"}`);
      if (typeof body.build_info === "string" && body.build_info) this.engineVersion = `llamacpp-${body.build_info}`;
      const props: EngineProps = {};
      if (typeof body.total_slots === "number") props.slots_total = body.total_slots;
      const nCtx = body.default_generation_settings?.n_ctx;
      if (typeof nCtx === "number") props.ctx_max = nCtx;
      return props;
    } catch (error) {
      if (error instanceof EngineError) throw error;
      if (signal?.aborted) throw signal.reason;
      throw new EngineError("POOL_UNAVAILABLE", `engine at ${this.base} did not answer /props: ${limit.fired() ? "timed out" : (error as Error).message}`);
    } finally {
      limit.cancel();
    }
  }

  /** POST /v1/embeddings: llama-server answers it when started with --embeddings (501 otherwise). */
  embed(inputs: string[], signal: AbortSignal): Promise<EngineEmbeddings> {
    return postEmbeddings({
      base: this.base,
      model: "default",
      inputs,
      headers: {},
      clock: this.clock,
      timeoutMs: this.options.requestTimeoutMs ?? 30_000,
      signal,
      who: `engine at ${this.base}`,
    });
  }

  async cancel(taskId: string): Promise<void> {
    this.running.get(taskId)?.abort(new Error("canceled"));
  }

  async close(): Promise<void> {
    for (const c of this.running.values()) c.abort(new Error("adapter closed"));
  }

  async *submit(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent> {
    refuseUnsupported("llamacpp", request);
    if (request.messages) return yield* this.chat(request, signal);
    const local = new AbortController();
    this.running.set(request.task_id, local);
    const canceled = AbortSignal.any([signal, local.signal]);
    const opened = deadline(this.clock, this.options.streamOpenTimeoutMs ?? 30_000, "opening the stream");
    const connection = new AbortController(); // closing it closes the stream: the engine stops
    let i = 0;
    const top = wantedTop(request);
    let startedAt = this.clock.now();
    let idle: ReturnType<typeof deadline> | undefined;
    const canceledEnd = (): EngineEvent => ({ type: "end", tokens_out: i, decode_ms: this.clock.now() - startedAt, stop_reason: "canceled" });
    try {
      let res: Response;
      try {
        res = await fetch(`${this.base}/completion`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...traceHeaders(request.trace) },
          body: JSON.stringify({
            prompt: request.prompt,
            n_predict: request.max_tokens,
            ...sampling(request),
            // llama-server's /completion names the format's schema `json_schema`.
            ...(formatSchema(request) ? { json_schema: formatSchema(request) } : {}),
            ...(request.presence_penalty !== undefined ? { presence_penalty: request.presence_penalty } : {}),
            ...(request.frequency_penalty !== undefined ? { frequency_penalty: request.frequency_penalty } : {}),
            ...(request.logit_bias ? { logit_bias: llamaLogitBias(request.logit_bias) } : {}),
            ...(request.logprobs ? { n_probs: askTop(request) } : {}),
            stream: true,
          }),
          signal: AbortSignal.any([canceled, opened.signal, connection.signal]),
        });
      } catch (error) {
        if (canceled.aborted) return yield canceledEnd();
        if (opened.fired()) throw new EngineError("DECODE_TIMEOUT", `engine at ${this.base} did not start the stream in ${this.options.streamOpenTimeoutMs ?? 30_000} ms`);
        // Nobody listening: the engine is not there. A reset after connecting: it failed on us.
        const code = (error as { code?: string }).code;
        if (code === "ECONNREFUSED" || code === "ConnectionRefused") throw new EngineError("POOL_UNAVAILABLE", `engine at ${this.base} is unreachable: ${(error as Error).message}`);
        throw new EngineError("WORKER_RESET", `engine at ${this.base} dropped the request: ${(error as Error).message}`);
      } finally {
        opened.cancel();
      }
      if (!res.ok || !res.body) {
        const body = (await res.json().catch(() => undefined)) as { error?: { code?: unknown; type?: unknown; message?: string } } | undefined;
        throw new EngineError(errorCode(body?.error ?? { code: res.status }), `engine refused the request: HTTP ${res.status}: ${body?.error?.message ?? res.statusText}`);
      }
      startedAt = this.clock.now();
      yield { type: "started", engine_version: this.version() };

      const pending: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (e) => pending.push(e) });
      const decoder = new TextDecoder();
      const reader = res.body.getReader();
      // Cancel already ends the read (it aborts the fetch); an idle timeout has to close it too.
      const stopOnAbort = () => connection.abort();
      try {
        for (;;) {
          if (this.options.streamIdleTimeoutMs !== undefined) {
            idle = deadline(this.clock, this.options.streamIdleTimeoutMs, "waiting for a token");
            idle.signal.addEventListener("abort", stopOnAbort, { once: true });
          }
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (error) {
            if (canceled.aborted) return yield canceledEnd();
            if (idle?.fired()) throw new EngineError("DECODE_TIMEOUT", `engine sent nothing for ${this.options.streamIdleTimeoutMs} ms`);
            throw new EngineError("WORKER_RESET", `connection to the engine lost mid-stream: ${(error as Error).message}`);
          } finally {
            idle?.cancel();
          }
          if (canceled.aborted) return yield canceledEnd();
          if (chunk.done) break;
          parser.feed(decoder.decode(chunk.value, { stream: true }));
          const events = pending.splice(0);
          for (let k = 0; k < events.length; k++) {
            const event = events[k]!;
            if (event.data === "[DONE]") continue;
            let data: Record<string, any>;
            try {
              data = JSON.parse(event.data);
            } catch {
              throw new EngineError("INTERNAL", `engine sent a malformed stream line: ${event.data.slice(0, 200)}`);
            }
            if (data.error) throw new EngineError(errorCode(data.error), `engine failed the request: ${data.error.message ?? JSON.stringify(data.error)}`);
            if (canceled.aborted) return yield canceledEnd();
            if (typeof data.content === "string" && data.content !== "") {
              if (top === undefined) yield { type: "token", t: data.content, i: i++, ...(k < events.length - 1 ? { more: true } : {}) };
              else for (const ev of tokensWithLogprobs(data.content, llamaProbabilities(data.completion_probabilities, top), i, k < events.length - 1)) (i++, yield ev);
            }
            if (data.stop === true) {
              const ms = data.timings?.predicted_ms;
              const promptTokens = typeof data.tokens_evaluated === "number" ? data.tokens_evaluated : data.timings?.prompt_n;
              return yield {
                type: "end",
                tokens_out: typeof data.tokens_predicted === "number" ? data.tokens_predicted : i,
                decode_ms: typeof ms === "number" ? Math.round(ms) : this.clock.now() - startedAt,
                stop_reason: stopReason(data),
                ...(typeof promptTokens === "number" ? { tokens_in: promptTokens } : {}),
              };
            }
          }
        }
        if (canceled.aborted) return yield canceledEnd();
        throw new EngineError("WORKER_RESET", "engine closed the stream before the end of the completion");
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    } finally {
      idle?.cancel();
      connection.abort(); // also when the consumer stops iterating early
      if (this.running.get(request.task_id) === local) this.running.delete(request.task_id);
    }
  }

  /** A chat task: the server's /v1/chat/completions renders the messages with the model's template. */
  private async *chat(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent> {
    const local = new AbortController();
    this.running.set(request.task_id, local);
    const who = `engine at ${this.base}`;
    try {
      yield* openAiStream({
        url: `${this.base}/v1/chat/completions`,
        init: {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...traceHeaders(request.trace) },
          body: JSON.stringify({
            messages: request.messages,
            max_tokens: request.max_tokens,
            ...sampling(request),
            // tools need llama-server's --jinja (docs/api.md#tools-and-structured-output).
            ...openAiFeatureFields(request, "llama"),
            // llama-server reports nothing for top_logprobs 0: ask for one, the adapter drops it.
            ...(request.logprobs ? { logprobs: true, top_logprobs: askTop(request) } : {}),
            stream: true,
            stream_options: { include_usage: true },
          }),
        },
        clock: this.clock,
        canceled: AbortSignal.any([signal, local.signal]),
        openTimeoutMs: this.options.streamOpenTimeoutMs ?? 30_000,
        idleTimeoutMs: this.options.streamIdleTimeoutMs,
        who,
        refused: async (res) => {
          const body = (await res.json().catch(() => undefined)) as { error?: { code?: unknown; type?: unknown; message?: string } } | undefined;
          // A 400 is the request's fault (a schema the grammar cannot take, tools without --jinja).
          const code = res.status === 400 ? "INVALID_PARAMS" : errorCode(body?.error ?? { code: res.status });
          return new EngineError(code, `engine refused the request: HTTP ${res.status}: ${body?.error?.message ?? res.statusText}`);
        },
        redact: (t) => t,
        kind: "chat",
        version: () => this.version(),
        idBase: request.task_id,
        errorCode: (chunk) => errorCode(chunk.error ?? {}),
        logprobs: wantedTop(request),
      });
    } finally {
      if (this.running.get(request.task_id) === local) this.running.delete(request.task_id);
    }
  }
}

/** The sampling fields both of llama-server's endpoints take; greedy by default, so a seed reproduces a stream. */
function sampling(request: EngineRequest): Record<string, unknown> {
  return {
    ...(request.seed === undefined ? {} : { seed: request.seed }),
    temperature: request.temperature ?? 0,
    top_p: request.top_p ?? 1,
    ...(request.top_k === undefined ? {} : { top_k: request.top_k }),
    ...(request.stop?.length ? { stop: request.stop } : {}),
    ...(request.ignore_eos ? { ignore_eos: true } : {}),
  };
}
