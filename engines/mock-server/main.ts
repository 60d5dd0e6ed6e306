// A stand-in for llama.cpp's `llama-server`, run as a real child process:
//   bun engines/mock-server/main.ts --port 0 [--model PATH] [--slots N] [--ctx N] [faults...]
// It speaks the llama-server wire format our llama.cpp adapter uses (GET /health, /props, /slots,
// /metrics, POST /completion with SSE `data:` lines, POST /v1/chat/completions rendered with a
// fixed template (chat.ts; tools and JSON formats answered as the in-process mock does), POST /v1/embeddings with fake vectors: embedding.ts), generates deterministic words from
// (prompt, seed), stops generating when the client closes the connection, and injects the faults
// engine supervision must survive: slow load, crash (optionally with a CUDA error), VRAM OOM at
// start, a hung /health, a SIGTERM that is ignored, a grandchild process in its group.

import { existsSync, statSync, writeSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { RealClock } from "../../runtime/index.ts";
import { mockEmbeddingsResponse } from "./embedding.ts";
import { chatFramer, parseMockChat, type MockCompletion } from "./chat.ts";

/** This program's file, for spawning it. */
export const MOCK_ENGINE_PATH = fileURLToPath(import.meta.url);

/** The argv that runs this program with the same bun as the caller. */
export function mockEngineArgv(flags: string[]): string[] {
  return [process.execPath, MOCK_ENGINE_PATH, ...flags];
}

export interface MockEngineFlags {
  host: string;
  port: number;
  model?: string;
  slots: number;
  ctx: number;
  tokenDelayMs: number;
  loadMs: number;
  /** Stays loading until this file exists (checked at each request): a test decides when. */
  loadUntil?: string;
  crashAfterTokens?: number;
  crashCuda: boolean;
  eosAfterTokens?: number;
  oom: boolean;
  hangHealth: boolean;
  ignoreSigterm: boolean;
  grandchild: boolean;
  buildInfo: string;
}

const NUMERIC: Record<string, keyof MockEngineFlags> = {
  "--port": "port", "--slots": "slots", "-np": "slots", "--parallel": "slots", "--ctx": "ctx", "-c": "ctx",
  "--ctx-size": "ctx", "--token-delay-ms": "tokenDelayMs", "--load-ms": "loadMs",
  "--crash-after-tokens": "crashAfterTokens", "--eos-after-tokens": "eosAfterTokens",
};
const BOOLEAN: Record<string, keyof MockEngineFlags> = {
  "--crash-cuda": "crashCuda", "--oom": "oom", "--hang-health": "hangHealth",
  "--ignore-sigterm": "ignoreSigterm", "--grandchild": "grandchild",
};
/** llama-server flags the preload may pass; accepted and ignored. */
const IGNORED_WITH_VALUE = new Set(["-ngl", "--n-gpu-layers", "-t", "--threads", "--alias", "-a"]);
const IGNORED = new Set(["--metrics", "--no-webui", "--cont-batching"]);

/** Parses argv (without `bun` and the script); throws with a user-facing message on bad input. */
export function parseMockEngineFlags(argv: string[]): MockEngineFlags {
  const flags: MockEngineFlags = {
    host: "127.0.0.1", port: 8080, slots: 1, ctx: 4096, tokenDelayMs: 0, loadMs: 0,
    crashCuda: false, oom: false, hangHealth: false, ignoreSigterm: false, grandchild: false, buildInfo: "b0-mock",
  };
  const rec = flags as unknown as Record<string, unknown>;
  for (let i = 0; i < argv.length; i++) {
    let [name, value] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const needValue = (): string => {
      value ??= argv[++i];
      if (value === undefined) throw new Error(`${name} needs a value`);
      return value;
    };
    if (BOOLEAN[name]) rec[BOOLEAN[name]] = true;
    else if (IGNORED.has(name)) continue;
    else if (IGNORED_WITH_VALUE.has(name)) needValue();
    else if (name === "--host") flags.host = needValue();
    else if (name === "--load-until") flags.loadUntil = needValue();
    else if (name === "--model" || name === "-m") flags.model = needValue();
    else if (name === "--build-info") flags.buildInfo = needValue();
    else if (NUMERIC[name]) {
      const n = Number(needValue());
      if (!Number.isInteger(n) || n < 0) throw new Error(`${name} needs a whole number >= 0, got '${value}'`);
      rec[NUMERIC[name]] = n;
    } else throw new Error(`unknown argument: ${name}`);
  }
  if (flags.slots < 1) throw new Error("--slots must be at least 1");
  return flags;
}

/** Why the model cannot be opened: path-like refs (a "/", ".gguf", `file:`) must name a file. */
function modelProblem(ref: string): string | undefined {
  let path = ref;
  try {
    if (ref.startsWith("file://")) path = fileURLToPath(ref);
    else if (ref.startsWith("file:")) path = ref.slice(5);
  } catch (error) {
    return `model ref '${ref}' is not a valid file URL: ${(error as Error).message}`;
  }
  if (path === ref && !ref.includes("/") && !ref.endsWith(".gguf")) return undefined; // a virtual name
  try {
    return statSync(path).isFile() ? undefined : `failed to open ${path}: Is a directory`;
  } catch {
    return `failed to open ${path}: No such file or directory`;
  }
}

const WORDS = ["the", "orchestrator", "streams", "tokens", "to", "every", "client", "in", "order", "while",
  "nodes", "keep", "their", "engines", "alive", "and", "queues", "stay", "bounded", "under", "load"];

function fnv(text: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const out = (line: string) => writeSync(1, `${line}\n`);
const err = (line: string) => writeSync(2, `${line}\n`);
const json = (body: unknown, status = 200) => Response.json(body, { status });
const apiError = (status: number, type: string, message: string) => json({ error: { code: status, message, type } }, status);

function parseCompletion(body: unknown): MockCompletion | string {
  if (typeof body !== "object" || body === null) return "request body must be a JSON object";
  const b = body as Record<string, unknown>;
  if (typeof b.prompt !== "string") return "\"prompt\" must be a string";
  const num = (k: string, d: number) => (typeof b[k] === "number" ? (b[k] as number) : d);
  const stop = Array.isArray(b.stop) ? b.stop.filter((s): s is string => typeof s === "string" && s !== "") : [];
  return { prompt: b.prompt, n_predict: num("n_predict", -1), seed: num("seed", -1), temperature: num("temperature", 0.8), top_p: num("top_p", 0.95), stop, stream: b.stream === true };
}

export function runMockEngine(flags: MockEngineFlags): void {
  const clock = new RealClock();
  if (flags.oom) {
    err("ggml_backend_cuda_buffer_type_alloc_buffer: allocating 8192.00 MiB on device 0: cudaMalloc failed: out of memory");
    err("llama_model_load: error loading model: unable to allocate CUDA0 buffer");
    process.exit(1);
  }
  const problem = flags.model === undefined ? undefined : modelProblem(flags.model);
  if (problem) {
    err(`llama_model_load: error loading model: ${problem}`);
    err("main: exiting due to model loading error");
    process.exit(1);
  }
  if (flags.grandchild) {
    // Not detached: it shares our process group, so only a group stop ends it.
    const helper = Bun.spawn([process.execPath, "-e", "setInterval(() => {}, 1 << 30)"], { stdio: ["ignore", "ignore", "ignore"] });
    out(`mock: helper process pid=${helper.pid}`);
  }
  // Ready exactly when "model loaded" is logged, as llama-server: no window where /health says ok
  // before the log does.
  let loaded = flags.loadMs <= 0 && flags.loadUntil === undefined;
  function modelLoaded(): void {
    if (loaded && flags.loadUntil !== undefined) return;
    out("main: model loaded");
    loaded = true;
  }
  const busy: boolean[] = Array.from({ length: flags.slots }, () => false);
  const waiting: (() => void)[] = [];
  const m = { prompt: 0, predicted: 0, decode: 0, processing: 0, deferred: 0 };
  let totalTokens = 0;
  let nextTask = 0;

  const acquire = async (): Promise<number> => {
    for (;;) {
      const free = busy.indexOf(false);
      if (free >= 0) return (busy[free] = true), free;
      m.deferred++;
      await new Promise<void>((resolve) => waiting.push(resolve));
      m.deferred--;
    }
  };
  const release = (slot: number) => {
    busy[slot] = false;
    waiting.shift()?.();
  };

  /** Runs one completion; `emit` gets each chunk; resolves with the final chunk. */
  async function generate(req: MockCompletion, emit: (chunk: object) => void, canceled: () => boolean): Promise<object> {
    const slot = await acquire();
    const task = nextTask++;
    m.processing++;
    const promptN = (req.prompt.match(/\S+/g)?.length ?? 0) + 1;
    m.prompt += promptN;
    const started = clock.now();
    const limit = req.n_predict < 0 ? Math.max(0, flags.ctx - promptN) : Math.min(req.n_predict, flags.ctx - promptN);
    let h = fnv(req.prompt, req.seed);
    let n = 0;
    let text = "";
    let stopType = "limit";
    let stoppingWord = "";
    try {
      if (req.forced) {
        // A structured answer (chat.ts): its text as one piece, or nothing but the calls.
        stopType = "eos";
        if (req.forced.text) {
          text = req.forced.text;
          n = 1;
          totalTokens++;
          m.predicted++;
          emit({ index: 0, content: text, tokens: [0], stop: false, id_slot: slot, tokens_predicted: n, tokens_evaluated: promptN });
        }
      }
      while (!req.forced && n < limit && !canceled()) {
        if (flags.tokenDelayMs > 0) await clock.sleep(flags.tokenDelayMs);
        if (canceled()) break;
        if (flags.eosAfterTokens !== undefined && n >= flags.eosAfterTokens) {
          stopType = "eos";
          break;
        }
        h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
        const piece = `${n === 0 ? "" : " "}${WORDS[h % WORDS.length]}`;
        const word = req.stop.find((s) => (text + piece).includes(s));
        if (word) {
          stopType = "word";
          stoppingWord = word;
          break;
        }
        text += piece;
        n++;
        totalTokens++;
        m.predicted++;
        m.decode++;
        emit({ index: 0, content: piece, tokens: [h % WORDS.length], stop: false, id_slot: slot, tokens_predicted: n, tokens_evaluated: promptN });
        if (flags.crashAfterTokens !== undefined && totalTokens >= flags.crashAfterTokens) {
          if (flags.crashCuda) {
            err("CUDA error: an illegal memory access was encountered");
            err("  current device: 0, in function ggml_backend_cuda_synchronize at ggml-cuda.cu:2500");
          }
          err(`mock: crashing after ${totalTokens} tokens`);
          process.exit(1);
        }
      }
      if (canceled()) out(`srv  cancel_tasks: cancel task, id_task = ${task}`);
      out(`slot      release: id  ${slot} | task ${task} | stop processing: n_decoded = ${n}, canceled = ${canceled() ? 1 : 0}`);
      const ms = clock.now() - started;
      return {
        index: 0, content: req.stream ? "" : text, tokens: [], id_slot: slot, stop: true, model: "mock",
        tokens_predicted: n, tokens_evaluated: promptN,
        generation_settings: { n_ctx: flags.ctx, n_predict: req.n_predict, seed: req.seed, temperature: req.temperature, top_p: req.top_p, stop: req.stop, stream: req.stream },
        prompt: req.prompt, has_new_line: false, truncated: false, stop_type: stopType, stopping_word: stoppingWord, tokens_cached: 0,
        timings: {
          cache_n: 0, prompt_n: promptN, prompt_ms: 0, prompt_per_token_ms: 0, prompt_per_second: 0,
          predicted_n: n, predicted_ms: ms, predicted_per_token_ms: n ? ms / n : 0, predicted_per_second: ms ? (n * 1000) / ms : 0,
        },
      };
    } finally {
      m.processing--;
      release(slot);
    }
  }

  /** `chat`: the chunks go out in OpenAI's chat shape (chat.ts) instead of /completion's. */
  async function completion(req: MockCompletion, signal: AbortSignal, chat?: ReturnType<typeof chatFramer>): Promise<Response> {
    if (!req.stream) {
      const final = (await generate(req, () => {}, () => signal.aborted)) as Record<string, any>;
      return json(chat ? chat.whole(final, final.content) : final);
    }
    let closed = false;
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        const write = (chunk: object | string) => {
          if (!closed) controller.enqueue(encoder.encode(`data: ${typeof chunk === "string" ? chunk : JSON.stringify(chunk)}\n\n`));
        };
        const send = chat ? (chunk: object) => chat.token(chunk).forEach(write) : write;
        generate(req, send, () => closed || signal.aborted)
          .then((final) => {
            if (closed || signal.aborted) return;
            if (chat) chat.final(final).forEach(write);
            else write(final);
            closed = true;
            controller.close();
          })
          .catch((error) => err(`mock: stream failed: ${(error as Error).message}`));
      },
      cancel() {
        closed = true; // the client went away: generation stops at the next token
      },
    });
    return new Response(stream, { headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" } });
  }

  const metrics = () =>
    [
      ["prompt_tokens_total", "counter", m.prompt], ["tokens_predicted_total", "counter", m.predicted],
      ["n_decode_total", "counter", m.decode], ["requests_processing", "gauge", m.processing], ["requests_deferred", "gauge", m.deferred],
      // Deterministic KV use for tests: the share of busy slots.
      ["kv_cache_usage_ratio", "gauge", busy.filter(Boolean).length / busy.length],
    ].map(([name, type, v]) => `# TYPE llamacpp:${name} ${type}\nllamacpp:${name} ${v}\n`).join("");

  const server = Bun.serve({
    hostname: flags.host,
    port: flags.port,
    idleTimeout: 0, // SSE streams and a hung /health may stay silent for long
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (!loaded && flags.loadUntil !== undefined && existsSync(flags.loadUntil)) modelLoaded();
      const loading = !loaded;
      if (path === "/health" || path === "/v1/health") {
        if (flags.hangHealth) return new Promise<Response>(() => {});
        return loading ? apiError(503, "unavailable_error", "Loading model") : json({ status: "ok" });
      }
      if (loading) return apiError(503, "unavailable_error", "Loading model");
      if (req.method === "GET" && path === "/props") {
        return json({
          default_generation_settings: { id: 0, id_task: -1, n_ctx: flags.ctx, speculative: false, is_processing: busy.some(Boolean), params: { n_predict: -1, seed: 4294967295, temperature: 0.8, top_p: 0.95, stream: true } },
          total_slots: flags.slots, model_path: flags.model ?? "", chat_template: "", modalities: { vision: false }, build_info: flags.buildInfo, is_sleeping: false,
        });
      }
      if (req.method === "GET" && path === "/slots") return json(busy.map((b, id) => ({ id, n_ctx: flags.ctx, is_processing: b })));
      if (req.method === "GET" && path === "/metrics") return new Response(metrics(), { headers: { "Content-Type": "text/plain; version=0.0.4" } });
      if (req.method === "POST" && (path === "/completion" || path === "/completions")) {
        const body = await req.json().catch(() => undefined);
        const parsed = parseCompletion(body);
        if (typeof parsed === "string") return apiError(400, "invalid_request_error", parsed);
        return completion(parsed, req.signal);
      }
      if (req.method === "POST" && (path === "/v1/chat/completions" || path === "/chat/completions")) {
        const parsed = parseMockChat(await req.json().catch(() => undefined));
        if (typeof parsed === "string") return apiError(400, "invalid_request_error", parsed);
        return completion(parsed, req.signal, chatFramer(parsed, Math.floor(clock.now() / 1000)));
      }
      if (req.method === "POST" && (path === "/v1/embeddings" || path === "/embeddings")) {
        const answer = mockEmbeddingsResponse(await req.json().catch(() => undefined), flags.model ?? "mock");
        return json(answer.body, answer.status);
      }
      return apiError(404, "not_found_error", "File Not Found");
    },
  });
  out(`main: server is listening on http://${flags.host}:${server.port} - starting the main loop`);
  if (flags.loadUntil === undefined) {
    if (flags.loadMs > 0) clock.setTimeout(modelLoaded, flags.loadMs);
    else modelLoaded();
  }

  process.on("SIGTERM", () => {
    if (flags.ignoreSigterm) return void out("mock: ignoring SIGTERM");
    out("main: received SIGTERM, shutting down");
    server.stop(true);
    process.exit(0);
  });
}

if (import.meta.main) {
  let flags: MockEngineFlags;
  try {
    flags = parseMockEngineFlags(process.argv.slice(2));
  } catch (error) {
    err(`error: ${(error as Error).message}`);
    process.exit(1);
  }
  runMockEngine(flags);
}
