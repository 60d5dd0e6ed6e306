// A local stand-in for an OpenAI-compatible server, reproducing the wire format of vLLM's OpenAI
// server (current and pre-0.10 error shapes) and of OpenAI's API, for adapter tests:
//   GET /v1/models, POST /v1/completions and /v1/chat/completions (streaming and not), GET /health
//   (vLLM only; unauthenticated, as vLLM's auth covers /v1 only).
// Streams are `data: {chunk}\n\n` lines ending with `data: [DONE]`; with
// `stream_options.include_usage` a last chunk has `choices: []` and `usage` (OpenAI also puts
// `"usage": null` on every earlier chunk). vLLM puts finish_reason on the last text chunk, OpenAI
// on a separate empty-delta chunk. Deterministic text from (prompt, seed). Faults are mutable at
// run time: an HTTP status, an error chunk or a crash mid-stream, a hang, no [DONE].
// Sources: vllm/entrypoints/openai/{protocol,serving_completion,api_server}.py, OpenAI API docs.
//   bun tests/standins/openai-server.ts [--port N] [--flavor vllm|vllm-legacy|openai] [--model M] [--api-key K]

import { RealClock } from "../../runtime/index.ts";

export type OpenAiFlavor = "vllm" | "vllm-legacy" | "openai";

export interface OpenAiFaults {
  /** Answer every completion request with this HTTP error (429, 503, 500, …). */
  status?: number;
  /** After this many tokens, send an error chunk, then `[DONE]`. */
  errorAfterTokens?: number;
  /** After this many tokens the server dies: connections drop, the port stops answering. */
  crashAfterTokens?: number;
  /** After this many tokens, send nothing more (the connection stays open). */
  hangAfterTokens?: number;
  /** End streams without `data: [DONE]`. */
  omitDone?: boolean;
}

export interface OpenAiStandinOptions {
  flavor?: OpenAiFlavor;
  model?: string;
  apiKey?: string;
  maxModelLen?: number;
  /** Tokens packed into one streamed delta (vLLM does this under load). */
  tokensPerDelta?: number;
  /** End-of-sequence after this many tokens (finish_reason "stop") unless `ignore_eos`. */
  eosAfterTokens?: number;
  tokenDelayMs?: number;
  faults?: OpenAiFaults;
  port?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | null;
  body: any;
}

export interface OpenAiStandin {
  url: string;
  faults: OpenAiFaults;
  requests: RecordedRequest[];
  /** Streams the client closed before they finished. */
  canceled: number;
  /** Resolves once `canceled` reaches n (an event to await, not a sleep). */
  whenCanceled(n?: number): Promise<void>;
  /** Tokens generated over all requests (stops growing when a canceled stream stops). */
  generated: number;
  close(): Promise<void>;
}

const WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "ran", "far", "away"];

/** Deterministic token texts from (prompt, seed): a small LCG over a word list. */
export function* standinTokens(prompt: string, seed = 0): Generator<string> {
  let s = (Bun.hash.crc32(prompt) ^ (seed >>> 0)) >>> 0;
  for (;;) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    yield ` ${WORDS[s % WORDS.length]}`;
  }
}

export function startOpenAiStandin(options: OpenAiStandinOptions = {}): OpenAiStandin {
  const flavor = options.flavor ?? "vllm";
  const model = options.model ?? "standin-model";
  const maxModelLen = options.maxModelLen ?? 4096;
  const clock = new RealClock();
  const created = Math.floor(clock.now() / 1000);
  let seq = 0;

  const json = (status: number, body: unknown) => Response.json(body, { status });
  /** The error body in this flavor's shape. */
  const errorBody = (status: number, message: string, type: string, openaiCode: string | null = null) =>
    flavor === "vllm-legacy" ? { object: "error", message, type, param: null, code: status }
    : flavor === "vllm" ? { error: { message, type, param: null, code: status } }
    : { error: { message, type, param: null, code: openaiCode } };
  const fail = (status: number, message: string, type: string, openaiCode?: string) => json(status, errorBody(status, message, type, openaiCode));

  function unauthorized(): Response {
    if (flavor !== "openai") return json(401, { error: "Unauthorized" }); // vLLM's auth middleware
    return fail(401, `Incorrect API key provided: sk-ab${"*".repeat(20)}wxyz. You can find your API key at https://platform.openai.com/account/api-keys.`, "invalid_request_error", "invalid_api_key");
  }

  function completion(path: string, body: any, signal: AbortSignal): Response {
    const chat = path.endsWith("/chat/completions");
    if (standin.faults.status) {
      const s = standin.faults.status;
      return s === 429 ? fail(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded") : fail(s, `server error ${s}`, s >= 500 ? "InternalServerError" : "BadRequestError");
    }
    if (typeof body !== "object" || body === null) return fail(400, "Expecting value: line 1 column 1 (char 0)", "BadRequestError");
    if (flavor === "openai") {
      for (const k of ["top_k", "ignore_eos"]) if (k in body) return fail(400, `Unrecognized request argument supplied: ${k}`, "invalid_request_error");
    }
    if (body.model !== model) {
      return flavor === "openai" ? fail(404, `The model \`${body.model}\` does not exist or you do not have access to it.`, "invalid_request_error", "model_not_found")
        : fail(404, `The model \`${body.model}\` does not exist.`, "NotFoundError");
    }
    const prompt: string = chat ? (body.messages ?? []).map((m: any) => String(m.content)).join("\n") : String(body.prompt ?? "");
    const promptTokens = prompt.split(/\s+/).filter(Boolean).length + 1;
    const maxTokens = Number(body.max_tokens ?? 16);
    if (!Number.isInteger(maxTokens) || maxTokens < 1) return fail(400, "max_tokens must be at least 1, got " + body.max_tokens, "BadRequestError");
    if (flavor !== "openai" && promptTokens + maxTokens > maxModelLen) {
      return fail(400, `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptTokens + maxTokens} tokens (${promptTokens} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`, "BadRequestError");
    }
    const stops: string[] = typeof body.stop === "string" ? [body.stop] : Array.isArray(body.stop) ? body.stop : [];
    const eosAfter = body.ignore_eos ? undefined : options.eosAfterTokens;
    const id = `${chat ? "chatcmpl" : "cmpl"}-${++seq}`;
    const usageWanted = body.stream_options?.include_usage === true;
    const usageFor = (n: number) => ({ prompt_tokens: promptTokens, total_tokens: promptTokens + n, completion_tokens: n });
    const chunk = (text: string | undefined, finish: string | null, first = false): Record<string, unknown> => {
      const choice = chat
        ? { index: 0, delta: text === undefined ? {} : first ? { role: "assistant", content: text } : { content: text }, logprobs: null, finish_reason: finish }
        : { index: 0, text: text ?? "", logprobs: null, finish_reason: finish, ...(flavor === "openai" ? {} : { stop_reason: null }) };
      return {
        id, object: chat ? "chat.completion.chunk" : "text_completion", created, model, choices: [choice],
        ...(flavor === "openai" ? { system_fingerprint: "fp_standin", ...(usageWanted ? { usage: null } : {}) } : {}),
      };
    };

    // One generation step: up to tokensPerDelta tokens, with stop strings and limits applied.
    const tokens = standinTokens(prompt, Number(body.seed ?? 0));
    let text = "";
    let count = 0;
    const step = (): { delta: string; finish: string | null } => {
      let delta = "";
      for (let k = 0; k < (options.tokensPerDelta ?? 1); k++) {
        const t = tokens.next().value!;
        count++;
        standin.generated++;
        // vLLM leaves the stop string out of the text.
        const full = text + delta + t;
        const at = Math.min(...stops.map((s) => full.indexOf(s)).filter((a) => a >= 0));
        if (Number.isFinite(at)) return { delta: full.slice(text.length, Math.max(text.length, at)), finish: "stop" };
        delta += t;
        if (count >= maxTokens) return { delta, finish: "length" };
        if (eosAfter !== undefined && count >= eosAfter) return { delta, finish: "stop" };
      }
      return { delta, finish: null };
    };

    if (!body.stream) {
      let finish: string | null = null;
      while (finish === null) {
        const s = step();
        text += s.delta;
        finish = s.finish;
      }
      const choice = chat ? { index: 0, message: { role: "assistant", content: text }, logprobs: null, finish_reason: finish } : { index: 0, text, logprobs: null, finish_reason: finish };
      return json(200, { id, object: chat ? "chat.completion" : "text_completion", created, model, choices: [choice], usage: usageFor(count) });
    }

    const enc = new TextEncoder();
    const send = (c: ReadableStreamDefaultController, data: unknown) =>
      c.enqueue(enc.encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`));
    let finished = false;
    let state: "first" | "body" | "done" = "first";
    const stream = new ReadableStream({
      async pull(c) {
        if (state === "done") return;
        if (state === "first" && chat) send(c, chunk("", null, true));
        state = "body";
        if (options.tokenDelayMs) await clock.sleep(options.tokenDelayMs);
        if (signal.aborted) return;
        const { crashAfterTokens, errorAfterTokens, hangAfterTokens } = standin.faults;
        if (hangAfterTokens !== undefined && count >= hangAfterTokens) return new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        if (crashAfterTokens !== undefined && count >= crashAfterTokens) {
          // Let the tokens before the crash reach the socket first: a crashed server had sent them.
          await clock.sleep(25);
          return void server.stop(true);
        }
        if (errorAfterTokens !== undefined && count >= errorAfterTokens) {
          const err = errorBody(500, "CUDA error: an illegal memory access was encountered", "InternalServerError");
          send(c, flavor === "vllm-legacy" ? { error: err } : err);
          return finishStream(c);
        }
        const s = step();
        text += s.delta;
        if (s.finish !== null && flavor === "openai") {
          if (s.delta) send(c, chunk(s.delta, null));
          send(c, chunk(undefined, s.finish));
        } else send(c, chunk(s.delta, s.finish));
        if (s.finish === null) return;
        if (usageWanted) send(c, { id, object: chat ? "chat.completion.chunk" : "text_completion", created, model, choices: [], usage: usageFor(count) });
        finishStream(c);
      },
      cancel() {
        if (!finished) markCanceled();
        finished = true;
      },
    });
    function finishStream(c: ReadableStreamDefaultController) {
      finished = true;
      state = "done";
      if (!standin.faults.omitDone) send(c, "[DONE]");
      c.close();
    }
    signal.addEventListener("abort", () => {
      if (!finished) markCanceled();
      finished = true;
    }, { once: true });
    return new Response(stream, { headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache" } });
  }

  const server = Bun.serve({
    port: options.port ?? 0,
    hostname: "127.0.0.1",
    idleTimeout: 0, // a hung stream must stay open until the client gives up
    async fetch(req) {
      const path = new URL(req.url).pathname;
      const text = req.method === "POST" ? await req.text() : "";
      let body: any;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = null;
      }
      standin.requests.push({ method: req.method, path, authorization: req.headers.get("authorization"), body });
      if (path === "/health" && flavor !== "openai") return new Response(null, { status: 200 });
      if (!path.startsWith("/v1/")) return fail(404, "Not Found", "NotFoundError", "not_found");
      if (options.apiKey && req.headers.get("authorization") !== `Bearer ${options.apiKey}`) return unauthorized();
      if (path === "/v1/models" && req.method === "GET") {
        const card = flavor === "openai" ? { id: model, object: "model", created, owned_by: "system" }
          : { id: model, object: "model", created, owned_by: "vllm", root: model, parent: null, max_model_len: maxModelLen, permission: [] };
        return json(200, { object: "list", data: [card] });
      }
      if ((path === "/v1/completions" || path === "/v1/chat/completions") && req.method === "POST") return completion(path, body, req.signal);
      return fail(404, "Not Found", "NotFoundError", "not_found");
    },
  });

  const cancelWaiters = new Set<{ n: number; resolve: () => void }>();
  function markCanceled() {
    standin.canceled++;
    for (const w of cancelWaiters) if (standin.canceled >= w.n) (cancelWaiters.delete(w), w.resolve());
  }
  const standin: OpenAiStandin = {
    url: `http://127.0.0.1:${server.port}`,
    faults: { ...options.faults },
    requests: [],
    canceled: 0,
    whenCanceled: (n = 1) => (standin.canceled >= n ? Promise.resolve() : new Promise((resolve) => void cancelWaiters.add({ n, resolve }))),
    generated: 0,
    close: async () => {
      await server.stop(true);
    },
  };
  return standin;
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const s = startOpenAiStandin({
    port: Number(arg("--port") ?? 0),
    flavor: (arg("--flavor") as OpenAiFlavor | undefined) ?? "vllm",
    model: arg("--model"),
    apiKey: arg("--api-key"),
  });
  console.log(JSON.stringify({ msg: "openai stand-in listening", url: s.url }));
}
