// The real llama.cpp `llama-server` for tests: where the offline build put it (scripts/
// build-llama-server.ts), and a started server on a port of the OS's choosing, stopped with its
// process group. Tests that need it skip with LLAMA_SERVER_MISSING when it has not been built.

import type { Subprocess } from "bun";
import { accessSync, constants } from "node:fs";
import { RealClock } from "../../runtime/index.ts";
import { llamaServerBinary } from "../../scripts/build-llama-server.ts";

/** The binary: LLAMA_SERVER_BIN when set, else the build cache; undefined when not executable. */
export function llamaServerPath(): string | undefined {
  const path = process.env.LLAMA_SERVER_BIN || llamaServerBinary();
  if (!path) return undefined;
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    return undefined;
  }
}

export const LLAMA_SERVER_MISSING =
  `llama-server is not built (looked for ${process.env.LLAMA_SERVER_BIN || llamaServerBinary() || "the node-llama-cpp sources"}): ` +
  "run `bun scripts/build-llama-server.ts` (about 15 minutes on one core) or set LLAMA_SERVER_BIN; skipping the real-server tests";

export interface LlamaServerOptions {
  model: string;
  /** The model's name on /v1 (`--alias`). */
  alias?: string;
  apiKey?: string;
  /** Never more than the cores: llama.cpp's default of 4+ threads collapses on small machines. */
  threads?: number;
  ctx?: number;
  parallel?: number;
  extraArgs?: string[];
  /** How long loading may take before the start fails. */
  startTimeoutMs?: number;
}

export interface LlamaServer {
  url: string;
  /** Everything the server logged so far (it logs to stderr). */
  log: string[];
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts llama-server on 127.0.0.1, port 0; resolves once it logs `listening on` (the model is loaded). */
export async function startLlamaServer(options: LlamaServerOptions): Promise<LlamaServer> {
  const bin = llamaServerPath();
  if (!bin) throw new Error(LLAMA_SERVER_MISSING);
  const args = [
    bin, "-m", options.model, "--host", "127.0.0.1", "--port", "0",
    "-t", String(options.threads ?? 1), "-c", String(options.ctx ?? 2048), "-np", String(options.parallel ?? 1),
    "--no-webui", "--no-warmup",
    ...(options.alias ? ["--alias", options.alias] : []),
    ...(options.apiKey ? ["--api-key", options.apiKey] : []),
    ...(options.extraArgs ?? []),
  ];
  const proc: Subprocess<"ignore", "pipe", "pipe"> = Bun.spawn(args, { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true });
  const log: string[] = [];
  let onLine = (_line: string) => {};
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      const lines = (rest + decoder.decode(chunk, { stream: true })).split("\n");
      rest = lines.pop()!;
      for (const l of lines) (log.push(l), onLine(l));
    }
  };
  void pump(proc.stdout);
  void pump(proc.stderr);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-proc.pid, sig);
      } catch {}
    };
    kill("SIGTERM");
    const grace = new RealClock().setTimeout(() => kill("SIGKILL"), 3000);
    await proc.exited;
    grace.cancel();
  };

  const clock = new RealClock();
  const limit = options.startTimeoutMs ?? 60_000;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = clock.setTimeout(() => reject(new Error(`llama-server did not start in ${limit} ms:\n${log.slice(-20).join("\n")}`)), limit);
      const check = (line: string) => {
        const m = /listening on (http:\/\/\S+)/.exec(line);
        if (m) (timer.cancel(), resolve(m[1]!));
      };
      for (const l of log) check(l);
      onLine = check;
      void proc.exited.then((code) => (timer.cancel(), reject(new Error(`llama-server exited (${code}) before listening:\n${log.slice(-20).join("\n")}`))));
    });
    return { url, log, stop, [Symbol.asyncDispose]: stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
