// Adapter for Hugging Face text-generation-inference (TGI): GET /health (200 ready, 503 shards
// down), GET /info (max_total_tokens, max_concurrent_requests, version), and POST /generate_stream,
// whose SSE events `data:{index, token:{id,text,logprob,special}, generated_text, details}` become
// started → token* → end. The last event has generated_text set; its details (finish_reason,
// generated_tokens) come only when the request asks for `details:true`, so we always do. Special
// tokens (the EOS `</s>`) count as generated but carry no text for the client. Errors, also
// refusals before the first token, arrive as `data:{error, error_type}` events on an HTTP 200.
//
// TGI validates strictly: temperature must be > 0, 0 < top_p < 1, top_k > 0. So greedy decoding is
// `do_sample:false` with those left out, and values outside TGI's ranges are not sent at all.
// TGI has no ignore-EOS parameter; a request asking for it still stops at EOS.
//
// A chat task (`messages`) goes to TGI's messages API, POST /v1/chat/completions (OpenAI's chunks,
// read by openai-stream.ts), so TGI applies the model's own chat template.

import { RealClock, type Clock } from "../../runtime/index.ts";
import { codeForStatus, deadline, redactSecrets, sseStream, type HttpEngineHealth, type HttpEngineTimeouts } from "./http-stream.ts";
import { openAiStream } from "./openai-stream.ts";
import { EngineError, type EngineAdapter, type EngineErrorCode, type EngineEvent, type EngineProps, type EngineRequest } from "./types.ts";
import { traceHeaders } from "../tracing/w3c.ts";
import { formatSchema, refuseUnsupported } from "./request-features.ts";

export interface TgiEngineOptions {
  /** e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …` (TGI's `--api-key`, Inference Endpoints); never logged. */
  apiKey?: string;
  clock?: Clock;
  timeouts?: HttpEngineTimeouts;
  /** Engine version until /info has told us. */
  version?: string;
}

/** TGI error_type → our code: overload is the pool's state; a failed or cut generation, the worker's. */
function codeForType(type: unknown): EngineErrorCode {
  if (type === "overloaded") return "POOL_UNAVAILABLE";
  if (type === "generation" || type === "incomplete_generation") return "WORKER_RESET";
  return "INTERNAL";
}

export class TgiEngine implements EngineAdapter {
  readonly engine = "tgi";
  readonly #apiKey: string | undefined;
  readonly #base: string;
  readonly #clock: Clock;
  readonly #timeouts: HttpEngineTimeouts;
  #version: string;
  readonly #running = new Map<string, AbortController>();

  constructor(options: TgiEngineOptions) {
    this.#apiKey = options.apiKey || undefined;
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#clock = options.clock ?? new RealClock();
    this.#timeouts = { ...options.timeouts };
    this.#version = options.version ?? "tgi-unknown";
  }

  toJSON(): Record<string, unknown> {
    return { engine: this.engine, baseUrl: this.#who().replace(/^engine at /, ""), apiKey: this.#apiKey ? "[REDACTED]" : undefined };
  }

  version(): string {
    return this.#version;
  }

  #who(): string {
    try {
      const u = new URL(this.#base);
      return `engine at ${u.protocol}//${u.host}`;
    } catch {
      return "engine at (invalid url)";
    }
  }

  #redact(text: string): string {
    return redactSecrets(text, [this.#apiKey]);
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...extra, ...(this.#apiKey ? { Authorization: `Bearer ${this.#apiKey}` } : {}) };
  }

  async #get(path: string, ms: number, signal?: AbortSignal): Promise<Response | undefined> {
    const limit = deadline(this.#clock, ms);
    try {
      return await fetch(`${this.#base}${path}`, { headers: this.#headers(), signal: signal ? AbortSignal.any([signal, limit.signal]) : limit.signal });
    } catch {
      if (signal?.aborted) throw signal.reason;
      return undefined; // refused, reset or timed out
    } finally {
      limit.cancel();
    }
  }

  async #refused(res: Response): Promise<EngineError> {
    const body = (await res.json().catch(() => undefined)) as { error?: unknown; error_type?: unknown } | undefined;
    const detail = this.#redact(typeof body?.error === "string" ? body.error : res.statusText).slice(0, 300);
    const code = res.status === 424 ? "WORKER_RESET" : body?.error_type ? codeForType(body.error_type) : codeForStatus(res.status);
    return new EngineError(code, `${this.#who()} refused the request: HTTP ${res.status}: ${detail}`);
  }

  async health(signal?: AbortSignal): Promise<HttpEngineHealth> {
    const res = await this.#get("/health", this.#timeouts.healthMs ?? 2000, signal);
    if (!res) return { live: false, ready: false, reason: `${this.#who()} is unreachable` };
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return { live: true, ready: true };
    return { live: true, ready: false, reason: `${this.#who()} /health answered HTTP ${res.status}` };
  }

  async props(signal?: AbortSignal): Promise<EngineProps> {
    const res = await this.#get("/info", this.#timeouts.requestMs ?? 30_000, signal);
    if (!res) throw new EngineError("POOL_UNAVAILABLE", `${this.#who()} did not answer /info`);
    if (!res.ok) throw await this.#refused(res);
    const info = (await res.json().catch(() => undefined)) as Record<string, any> | undefined;
    if (!info) throw new EngineError("INTERNAL", `${this.#who()} /info is not JSON`);
    if (typeof info.version === "string") this.#version = `tgi-${info.version}`;
    const props: EngineProps = {};
    if (typeof info.max_total_tokens === "number") props.ctx_max = info.max_total_tokens;
    // The router's concurrency limit: requests beyond it are refused as overloaded.
    if (typeof info.max_concurrent_requests === "number") props.slots_total = info.max_concurrent_requests;
    return props;
  }

  async cancel(taskId: string): Promise<void> {
    this.#running.get(taskId)?.abort(new Error("canceled"));
  }

  async close(): Promise<void> {
    for (const c of this.#running.values()) c.abort(new Error("adapter closed"));
  }

  #body(r: EngineRequest): Record<string, unknown> {
    const sample = r.temperature !== undefined && r.temperature > 0;
    const parameters: Record<string, unknown> = { max_new_tokens: r.max_tokens, details: true, do_sample: sample };
    if (sample) parameters.temperature = r.temperature;
    if (sample && r.top_p !== undefined && r.top_p > 0 && r.top_p < 1) parameters.top_p = r.top_p;
    if (sample && r.top_k !== undefined && r.top_k > 0) parameters.top_k = r.top_k;
    if (r.seed !== undefined) parameters.seed = r.seed;
    if (r.stop?.length) parameters.stop = r.stop;
    // TGI's grammar-constrained generation; /generate has no presence penalty.
    const schema = formatSchema(r);
    if (schema) parameters.grammar = { type: "json", value: schema };
    if (r.frequency_penalty !== undefined) parameters.frequency_penalty = r.frequency_penalty;
    if (r.presence_penalty) throw new EngineError("INVALID_PARAMS", "presence_penalty: not supported by TGI's /generate (prompt tasks); frequency_penalty is");
    return { inputs: r.prompt, parameters };
  }

  /** TGI's messages API: the router renders them with the model's chat template (tokenizer_config.json). */
  #chatBody(r: EngineRequest): Record<string, unknown> {
    const sample = r.temperature !== undefined && r.temperature > 0;
    return {
      model: "tgi",
      messages: r.messages,
      max_tokens: r.max_tokens,
      ...(sample ? { temperature: r.temperature } : {}),
      ...(sample && r.top_p !== undefined && r.top_p > 0 && r.top_p < 1 ? { top_p: r.top_p } : {}),
      ...(r.seed === undefined ? {} : { seed: r.seed }),
      ...(r.stop?.length ? { stop: r.stop } : {}),
      // TGI's messages API: tools are grammar-constrained; response_format is `{type:"json", value}`.
      ...(r.tools ? { tools: r.tools, ...(r.tool_choice !== undefined ? { tool_choice: r.tool_choice } : {}) } : {}),
      ...(formatSchema(r) ? { response_format: { type: "json", value: formatSchema(r) } } : {}),
      ...(r.presence_penalty !== undefined ? { presence_penalty: r.presence_penalty } : {}),
      ...(r.frequency_penalty !== undefined ? { frequency_penalty: r.frequency_penalty } : {}),
      stream: true,
      stream_options: { include_usage: true },
    };
  }

  /** What both of TGI's streaming endpoints are opened with: the POST, its limits, refusals and redaction. */
  #streamOf(url: string, request: EngineRequest, body: unknown, signal: AbortSignal, local: AbortController) {
    return {
      url,
      init: { method: "POST", headers: this.#headers({ "Content-Type": "application/json", Accept: "text/event-stream", ...traceHeaders(request.trace) }), body: JSON.stringify(body) },
      clock: this.#clock,
      canceled: AbortSignal.any([signal, local.signal]),
      openTimeoutMs: this.#timeouts.streamOpenMs ?? 30_000,
      idleTimeoutMs: this.#timeouts.streamIdleMs,
      who: this.#who(),
      refused: (res: Response) => this.#refused(res),
      redact: (t: string) => this.#redact(t),
    };
  }

  async *#chat(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent> {
    const local = new AbortController();
    this.#running.set(request.task_id, local);
    try {
      yield* openAiStream({
        ...this.#streamOf(`${this.#base}/v1/chat/completions`, request, this.#chatBody(request), signal, local),
        kind: "chat",
        version: () => this.version(),
        idBase: request.task_id,
        errorCode: (chunk) => codeForType(chunk.error_type),
      });
    } finally {
      if (this.#running.get(request.task_id) === local) this.#running.delete(request.task_id);
    }
  }

  async *submit(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent> {
    refuseUnsupported("tgi", request);
    if (request.messages) return yield* this.#chat(request, signal);
    const local = new AbortController();
    this.#running.set(request.task_id, local);
    let i = 0; // token events sent
    let generated = 0; // tokens the server produced, special ones included
    let startedAt = this.#clock.now();
    let started = false;
    const start = (): EngineEvent => {
      started = true;
      startedAt = this.#clock.now();
      return { type: "started", engine_version: this.version() };
    };
    try {
      const stream = sseStream(this.#streamOf(`${this.#base}/generate_stream`, request, this.#body(request), signal, local));
      for await (const item of stream) {
        if (item.kind === "open") continue; // refusals come as the first event: started waits for a token
        if (item.kind === "canceled") return yield { type: "end", tokens_out: generated, decode_ms: this.#clock.now() - startedAt, stop_reason: "canceled" };
        if (item.kind === "eof") throw new EngineError("WORKER_RESET", `${this.#who()} closed the stream before the end of the generation`);
        let data: Record<string, any>;
        try {
          data = JSON.parse(item.data);
        } catch {
          throw new EngineError("INTERNAL", `${this.#who()} sent a malformed stream line: ${this.#redact(item.data.slice(0, 200))}`);
        }
        if (data.error !== undefined) throw new EngineError(codeForType(data.error_type), `${this.#who()} failed the request: ${this.#redact(String(data.error))}`);
        if (!started) yield start();
        const token = data.token as { text?: unknown; special?: unknown } | undefined;
        if (token) generated++;
        if (token && token.special !== true && typeof token.text === "string" && token.text !== "") yield { type: "token", t: token.text, i: i++, ...(item.more ? { more: true } : {}) };
        if (data.generated_text != null) {
          const d = data.details as { finish_reason?: unknown; generated_tokens?: unknown } | null;
          return yield {
            type: "end",
            tokens_out: typeof d?.generated_tokens === "number" ? d.generated_tokens : generated,
            decode_ms: this.#clock.now() - startedAt,
            stop_reason: d?.finish_reason === "length" ? "length" : d?.finish_reason === undefined && generated >= request.max_tokens ? "length" : "stop",
          };
        }
      }
    } finally {
      if (this.#running.get(request.task_id) === local) this.#running.delete(request.task_id);
    }
  }
}
