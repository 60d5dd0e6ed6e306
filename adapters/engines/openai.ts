// Adapter for OpenAI-compatible servers (vLLM, SGLang, llama-server's /v1, remote APIs):
// GET /v1/models for health and props, POST /v1/completions (or /v1/chat/completions) with
// `stream:true, stream_options:{include_usage:true}`, parsed by openai-stream.ts. Chat tasks
// (`messages`) always go to /v1/chat/completions, so the server applies the model's own template;
// prompt tasks go to the endpoint `api` names. Errors arrive in three shapes: OpenAI's `{error:{message,type,param,code}}`, vLLM's current one
// (the same, `code` numeric), vLLM before 0.10 `{object:"error",message,type,param,code}`, and
// vLLM's auth middleware `{error:"Unauthorized"}`. The API key never leaves the Authorization
// header: messages are redacted (OpenAI echoes a masked key back), and the key is not an
// enumerable field, so logging or serialising the adapter cannot print it.

import { RealClock, type Clock } from "../../runtime/index.ts";
import { codeForStatus, deadline, errorMessage, REDACTED, redactSecrets, showUrl, type HttpEngineHealth, type HttpEngineTimeouts } from "./http-stream.ts";
import { openAiStream } from "./openai-stream.ts";
import { postEmbeddings } from "./embeddings.ts";
import { VllmKvReader } from "./kv-usage.ts";
import { EngineError, type EngineAdapter, type EngineEmbeddings, type EngineEvent, type EngineProps, type EngineRequest } from "./types.ts";
import { traceHeaders } from "../tracing/w3c.ts";
import { openAiFeatureFields, refuseUnsupported } from "./request-features.ts";
import { askTop, wantedTop } from "./logprobs.ts";

export interface OpenAiEngineOptions {
  /** Server root or its `/v1` (e.g. `http://127.0.0.1:8000` or `https://api.openai.com/v1`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`; never logged. */
  apiKey?: string;
  /** The served model name requests name. */
  model: string;
  /** Which endpoint submit uses; the chat one wraps the prompt as one user message. */
  api?: "completions" | "chat";
  clock?: Clock;
  timeouts?: HttpEngineTimeouts;
  /** Engine version until /v1/models has said who serves the model. */
  version?: string;
}

export class OpenAiEngine implements EngineAdapter {
  readonly engine = "openai";
  // Private fields, not TypeScript `private`: they stay out of console.log, inspect and JSON.
  readonly #apiKey: string | undefined;
  readonly #base: string;
  readonly #model: string;
  readonly #api: "completions" | "chat";
  readonly #clock: Clock;
  readonly #timeouts: HttpEngineTimeouts;
  #version: string;
  readonly #running = new Map<string, AbortController>();
  #kv: VllmKvReader | undefined;

  constructor(options: OpenAiEngineOptions) {
    this.#apiKey = options.apiKey || undefined;
    this.#base = options.baseUrl.replace(/\/+$/, "").replace(/\/v1$/, "");
    this.#model = options.model;
    this.#api = options.api ?? "completions";
    this.#clock = options.clock ?? new RealClock();
    this.#timeouts = { ...options.timeouts };
    this.#version = options.version ?? "openai-compatible";
  }

  /** What logging the adapter shows: where and what, never the key. */
  toJSON(): Record<string, unknown> {
    return { engine: this.engine, baseUrl: showUrl(this.#base), model: this.#model, api: this.#api, apiKey: this.#apiKey ? REDACTED : undefined };
  }

  version(): string {
    return this.#version;
  }

  #who(): string {
    return `engine at ${showUrl(this.#base)}`;
  }

  #redact(text: string): string {
    return redactSecrets(text, [this.#apiKey]);
  }

  #headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = { Accept: json ? "application/json" : "text/event-stream" };
    if (!json) h["Content-Type"] = "application/json";
    if (this.#apiKey) h.Authorization = `Bearer ${this.#apiKey}`;
    return h;
  }

  async #refused(res: Response): Promise<EngineError> {
    const text = await res.text().catch(() => "");
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {}
    const detail = this.#redact(errorMessage(body) ?? res.statusText ?? "").slice(0, 300);
    if (res.status === 401 || res.status === 403) return new EngineError("INTERNAL", `${this.#who()} rejected the API key (HTTP ${res.status}): ${detail}`);
    return new EngineError(codeForStatus(res.status), `${this.#who()} refused the request: HTTP ${res.status}: ${detail}`);
  }

  /** GET /v1/models, bounded; undefined when the server cannot be reached. */
  async #models(ms: number, signal?: AbortSignal): Promise<Response | undefined> {
    const limit = deadline(this.#clock, ms);
    try {
      return await fetch(`${this.#base}/v1/models`, { headers: this.#headers(true), signal: signal ? AbortSignal.any([signal, limit.signal]) : limit.signal });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return undefined;
    } finally {
      limit.cancel();
    }
  }

  async health(signal?: AbortSignal): Promise<HttpEngineHealth> {
    const res = await this.#models(this.#timeouts.healthMs ?? 2000, signal);
    if (!res) return { live: false, ready: false, reason: `${this.#who()} is unreachable` };
    if (!res.ok) return { live: true, ready: false, reason: (await this.#refused(res)).message };
    const body = (await res.json().catch(() => undefined)) as { data?: { id?: unknown }[] } | undefined;
    const ids = Array.isArray(body?.data) ? body.data.map((m) => m.id) : [];
    if (!ids.includes(this.#model)) return { live: true, ready: false, reason: `${this.#who()} does not serve model '${this.#model}' (serves: ${ids.join(", ") || "none"})` };
    return { live: true, ready: true };
  }

  /** vLLM's KV cache use from its /metrics; undefined (and not asked again) on a server without it. */
  kvCacheUsage(signal?: AbortSignal): Promise<number | undefined> {
    this.#kv ??= new VllmKvReader({ base: this.#base, clock: this.#clock, timeoutMs: this.#timeouts.healthMs, headers: this.#apiKey ? { Authorization: `Bearer ${this.#apiKey}` } : undefined });
    return this.#kv.read(signal);
  }

  async props(signal?: AbortSignal): Promise<EngineProps> {
    const res = await this.#models(this.#timeouts.requestMs ?? 30_000, signal);
    if (!res) throw new EngineError("POOL_UNAVAILABLE", `${this.#who()} did not answer /v1/models`);
    if (!res.ok) throw await this.#refused(res);
    const body = (await res.json().catch(() => undefined)) as { data?: Record<string, any>[] } | undefined;
    const card = body?.data?.find?.((m) => m.id === this.#model);
    if (!card) throw new EngineError("INTERNAL", `${this.#who()} does not serve model '${this.#model}'`);
    if (typeof card.owned_by === "string" && card.owned_by) this.#version = `openai-${card.owned_by}`;
    // vLLM names the context `max_model_len`, llama-server `meta.n_ctx`; OpenAI does not say.
    const ctx = typeof card.max_model_len === "number" ? card.max_model_len : card.meta?.n_ctx;
    return typeof ctx === "number" ? { ctx_max: ctx } : {};
  }

  /** POST /v1/embeddings with the served model; a server without it answers 404, refused as INVALID_PARAMS. */
  embed(inputs: string[], signal: AbortSignal): Promise<EngineEmbeddings> {
    const headers: Record<string, string> = this.#apiKey ? { Authorization: `Bearer ${this.#apiKey}` } : {};
    return postEmbeddings({
      base: this.#base,
      model: this.#model,
      inputs,
      headers,
      clock: this.#clock,
      timeoutMs: this.#timeouts.requestMs ?? 30_000,
      signal,
      who: this.#who(),
      redact: (t) => this.#redact(t),
    });
  }

  async cancel(taskId: string): Promise<void> {
    this.#running.get(taskId)?.abort(new Error("canceled"));
  }

  async close(): Promise<void> {
    for (const c of this.#running.values()) c.abort(new Error("adapter closed"));
  }

  #body(r: EngineRequest, kind: "chat" | "text"): Record<string, unknown> {
    const input = r.messages ? { messages: r.messages } : kind === "chat" ? { messages: [{ role: "user", content: r.prompt }] } : { prompt: r.prompt };
    return {
      model: this.#model,
      ...input,
      max_tokens: r.max_tokens,
      // Greedy unless asked otherwise, as the llama.cpp adapter: a seed then reproduces a stream.
      temperature: r.temperature ?? 0,
      ...(r.top_p === undefined ? {} : { top_p: r.top_p }),
      ...(r.seed === undefined ? {} : { seed: r.seed }),
      ...(r.stop?.length ? { stop: r.stop } : {}),
      // Not OpenAI parameters (OpenAI rejects unknown ones): sent only when asked for.
      ...(r.top_k === undefined ? {} : { top_k: r.top_k }),
      ...(r.ignore_eos ? { ignore_eos: true } : {}),
      ...openAiFeatureFields(r),
      // Chat: logprobs + top_logprobs; legacy completions: logprobs is the count of alternatives.
      ...(r.logprobs ? (kind === "chat" ? { logprobs: true, top_logprobs: askTop(r) } : { logprobs: askTop(r) }) : {}),
      stream: true,
      stream_options: { include_usage: true },
    };
  }

  async *submit(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent> {
    refuseUnsupported("openai", request);
    const local = new AbortController();
    this.#running.set(request.task_id, local);
    // A chat task always goes to the chat endpoint: the server applies the model's template.
    const kind = request.messages ? "chat" : this.#api === "chat" ? "chat" : "text";
    try {
      yield* openAiStream({
        url: `${this.#base}/v1/${kind === "chat" ? "chat/completions" : "completions"}`,
        init: { method: "POST", headers: { ...this.#headers(false), ...traceHeaders(request.trace) }, body: JSON.stringify(this.#body(request, kind)) },
        clock: this.#clock,
        canceled: AbortSignal.any([signal, local.signal]),
        openTimeoutMs: this.#timeouts.streamOpenMs ?? 30_000,
        idleTimeoutMs: this.#timeouts.streamIdleMs,
        who: this.#who(),
        refused: (res) => this.#refused(res),
        redact: (t) => this.#redact(t),
        kind,
        version: () => this.version(),
        idBase: request.task_id,
        logprobs: wantedTop(request),
      });
    } finally {
      if (this.#running.get(request.task_id) === local) this.#running.delete(request.task_id);
    }
  }
}
