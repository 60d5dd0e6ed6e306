// The built-in engine's HTTP server. It listens before the model is loaded, so that, as with
// llama-server, `GET /health` answers 503 "Loading model" until the model is ready and 200 after;
// every other route answers 503 until then. Routes: native.ts, openai.ts and embeddings.ts.

import { writeSync } from "node:fs";
import { RealClock, type Clock } from "../../runtime/index.ts";
import { ChatRenderer } from "./chat.ts";
import { BuiltinEngine, type BuiltinEngineOptions as BuiltinEngineCoreOptions } from "./engine.ts";
import { Embedder, embeddingsRoute } from "./embeddings.ts";
import type { BuiltinEngineFlags } from "./flags.ts";
import { errorBody, errorResponse, json } from "./http.ts";
import { loadModel, type LoadedModel } from "./load.ts";
import { completion, metrics, props, slots } from "./native.ts";
import { chatCompletions, completions, models, type OpenAiContext } from "./openai.ts";
import { RequestError } from "./params.ts";
import { SlotWaitAborted } from "./slots.ts";

export interface BuiltinEngineOptions {
  clock?: Clock;
  /** One line per call; default: stdout. */
  log?: (line: string) => void;
  /** Loads the model (default: load.ts's loadModel); tests wrap it to hold the loading state. */
  load?: typeof loadModel;
  /** Sees every prompt the engine evaluates (engine.ts's onPrompt): tests and LLORCH_ENGINE_PROMPT_FILE. */
  onPrompt?: BuiltinEngineCoreOptions["onPrompt"];
}

export interface BuiltinEngineHandle {
  /** The port listened on (the OS's choice for --port 0). */
  readonly port: number;
  readonly url: string;
  /** Resolves once the model is loaded (/health 200); rejects with the load failure. */
  readonly ready: Promise<void>;
  /** Stops accepting, stops every generation at its next token, frees the model. */
  stop(): Promise<void>;
  /** The SIGTERM path: stop accepting and abort generations; resolves when they ended. */
  abort(): Promise<void>;
}

type Route = (ctx: OpenAiContext, req: Request) => Response | Promise<Response>;

const ROUTES: Record<string, Route> = {
  "GET /props": (ctx) => props(ctx),
  "GET /slots": (ctx) => slots(ctx),
  "GET /metrics": (ctx) => metrics(ctx),
  "POST /completion": completion,
  "POST /completions": completion,
  "POST /v1/completions": completions,
  "POST /v1/chat/completions": chatCompletions,
  "POST /chat/completions": chatCompletions,
};

export function startBuiltinEngine(flags: BuiltinEngineFlags, options: BuiltinEngineOptions = {}): BuiltinEngineHandle {
  const clock = options.clock ?? new RealClock();
  // Written at once: the node classifies a crash from the log's last lines.
  const log = options.log ?? ((line: string) => void writeSync(1, `${line}\n`));
  for (const w of flags.warnings) log(`warning: ${w}`);
  let ctx: OpenAiContext | undefined;
  let embedder: Embedder | undefined;
  let loadedAt = 0;
  let stopping = false;

  const server = Bun.serve({
    hostname: flags.host,
    port: flags.port,
    idleTimeout: 0, // streams may be quiet for long (a big prompt, a slow model)
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (stopping) return errorResponse(new RequestError(503, "the server is shutting down"));
      if (path === "/health" || path === "/v1/health") return ctx ? json({ status: "ok" }) : errorResponse(new RequestError(503, "Loading model"));
      if (!ctx) return errorResponse(new RequestError(503, "Loading model"));
      try {
        if (req.method === "GET" && (path === "/v1/models" || path === "/models")) return models(ctx, loadedAt);
        if (req.method === "POST" && (path === "/v1/embeddings" || path === "/embeddings")) return await embeddingsRoute(embedder!, ctx.modelId, req);
        const route = ROUTES[`${req.method} ${path}`];
        if (!route) throw new RequestError(404, "File Not Found");
        return await route(ctx, req);
      } catch (error) {
        if (error instanceof SlotWaitAborted) log(`srv  cancel_tasks: ${req.method} ${path} left while waiting for a slot`);
        else log(`srv  refused: ${req.method} ${path} ${errorBody(error).code}: ${(error as Error).message}`);
        return errorResponse(error);
      }
    },
  });
  const url = `http://${flags.host.includes(":") ? `[${flags.host}]` : flags.host}:${server.port}`;
  log(`main: HTTP server is listening, hostname: ${flags.host}, port: ${server.port}`);
  log(`main: loading model ${flags.model}`);

  const started = clock.now();
  const loading: Promise<LoadedModel> = (options.load ?? loadModel)(flags, log);
  const ready = loading.then(
    (loaded) => {
      if (stopping) return;
      const engine = new BuiltinEngine(loaded, { clock, log, defaultSeed: flags.seed, onPrompt: options.onPrompt });
      const chat = new ChatRenderer(loaded.model, loaded.chatTemplate, log);
      embedder = new Embedder(loaded.model, { contextSize: loaded.nCtx, threads: flags.threads, log });
      loadedAt = clock.now();
      ctx = { engine, chat, clock, modelId: flags.alias ?? flags.model, modelPath: flags.model, chatTemplate: loaded.chatTemplate ?? "" };
      log(
        `main: model loaded in ${loadedAt - started} ms: device ${loaded.device}, gpu layers ${loaded.gpuLayers}, ${loaded.slots.length} slot(s) ` +
          `x ${loaded.nCtx} tokens (${loaded.layout}), threads ${flags.threads}, chat template ${chat.kind === "template" ? `the model's (${chat.name})` : "chatml (fallback)"}, build ${loaded.buildInfo}`,
      );
      log(`main: server is listening on ${url} - starting the main loop`);
    },
    (error: Error) => {
      log(`main: ${error.message}`);
      log("main: exiting due to model loading error");
      server.stop(true);
      throw error;
    },
  );
  ready.catch(() => undefined); // the caller decides; an unobserved rejection must not crash

  const abort = async () => {
    stopping = true;
    server.stop(true);
    if (!ctx) return;
    ctx.engine.abortAll();
    await ctx.engine.drain();
  };
  return {
    port: server.port!,
    url,
    ready,
    abort,
    async stop() {
      await abort();
      await embedder?.dispose();
      const loaded = await loading.catch(() => undefined);
      await loaded?.dispose();
    },
  };
}
