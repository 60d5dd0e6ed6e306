// Command line of the built-in engine. Our own flags, plus the llama-server spellings a node may
// pass (`-m`, `-t`, `-np`, `-c`, `-ngl`, `-s`, `-a`), so one argv builder can serve both programs.

import { availableParallelism } from "node:os";

export interface BuiltinEngineFlags {
  model: string;
  host: string;
  port: number;
  /** CPU threads per context; `--threads` above the core count is lowered to it (see parse). */
  threads: number;
  /** Concurrent sequences ("slots"); further requests wait for a free one. */
  parallel: number;
  /** Context per slot, in tokens; undefined: the model's training context, at most 8192. */
  ctx?: number;
  /** Layers offloaded to the GPU: "max" (all) or a count; 0 means the CPU. */
  gpuLayers: number | "max";
  /** Seed for requests that name none; -1: a random one per request. */
  seed: number;
  /** One context per slot or one context shared by all slots; default: by device (load.ts). */
  slotLayout?: "context-per-slot" | "shared-context";
  /** The model id `/v1/models` lists and responses carry; default: the model path. */
  alias?: string;
  /** Warnings about the flags themselves (logged once the program runs). */
  warnings: string[];
}

export const BUILTIN_ENGINE_USAGE =
  "usage: bun engines/builtin/main.ts --model PATH --port N [--host H] [--threads N] [--parallel N] [--ctx N] [--gpu-layers N|max] [--cpu] [--seed N] [--alias NAME] [--slot-layout context-per-slot|shared-context]";

const INT_FLAGS: Record<string, "port" | "threads" | "parallel" | "ctx" | "seed"> = {
  "--port": "port",
  "--threads": "threads", "-t": "threads",
  "--parallel": "parallel", "-np": "parallel", "--slots": "parallel",
  "--ctx": "ctx", "-c": "ctx", "--ctx-size": "ctx",
  "--seed": "seed", "-s": "seed",
};
/** llama-server switches with nothing to do here: accepted so shared argv builders work. */
const NO_OPS = new Set(["--metrics", "--no-webui", "--cont-batching", "--slots-endpoint", "--jinja"]);

/** Parses argv (without `bun` and the script); throws with a user-facing message on bad input. */
export function parseBuiltinEngineFlags(argv: readonly string[], cores = availableParallelism()): BuiltinEngineFlags {
  let model: string | undefined;
  let cpu = false;
  let gpuLayers: number | "max" | undefined;
  const ints: Partial<Record<"port" | "threads" | "parallel" | "ctx" | "seed", number>> = {};
  const flags = { host: "127.0.0.1", warnings: [] as string[] } as Partial<BuiltinEngineFlags> & { host: string; warnings: string[] };
  for (let i = 0; i < argv.length; i++) {
    let [name, value] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const needValue = (): string => {
      value ??= argv[++i];
      if (value === undefined || value === "") throw new Error(`${name} needs a value`);
      return value;
    };
    if (name === "--model" || name === "-m") model = needValue();
    else if (name === "--host") flags.host = needValue();
    else if (name === "--alias" || name === "-a") flags.alias = needValue();
    else if (name === "--cpu") cpu = true;
    else if (name === "--slot-layout") {
      const v = needValue();
      if (v !== "context-per-slot" && v !== "shared-context") throw new Error(`--slot-layout must be context-per-slot or shared-context, got '${v}'`);
      flags.slotLayout = v;
    }
    else if (name === "--gpu-layers" || name === "-ngl" || name === "--n-gpu-layers") {
      const v = needValue();
      if (v === "max" || v === "all") gpuLayers = "max";
      else {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new Error(`${name} needs a whole number >= 0 or 'max', got '${v}'`);
        gpuLayers = n;
      }
    } else if (INT_FLAGS[name]) {
      const v = needValue();
      const n = Number(v);
      if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new Error(`${name} needs a whole number, got '${v}'`);
      ints[INT_FLAGS[name]] = n;
    } else if (NO_OPS.has(name)) continue;
    else throw new Error(`unknown argument: ${name}`);
  }
  if (!model) throw new Error("--model PATH is required");
  const port = ints.port ?? 8080;
  if (port < 0 || port > 65535) throw new Error(`--port must be between 0 and 65535, got ${port}`);
  const parallel = ints.parallel ?? 1;
  if (parallel < 1) throw new Error(`--parallel must be at least 1, got ${parallel}`);
  if (ints.ctx !== undefined && ints.ctx < 16) throw new Error(`--ctx must be at least 16 tokens, got ${ints.ctx}`);
  if (ints.seed !== undefined && (ints.seed < -1 || ints.seed > 0xffffffff)) throw new Error(`--seed must be -1 (random) or between 0 and 4294967295, got ${ints.seed}`);
  // Measured (node-llama-cpp 3.22 under Bun): more threads than cores makes llama.cpp's spinning
  // workers fight each other, and throughput collapses (2 cores, 4 threads: ~4 tok/s against
  // ~1.5k tok/s with 1). One thread is the default; more than the cores is lowered to the cores.
  let threads = ints.threads ?? 1;
  if (threads < 1) throw new Error(`--threads must be at least 1, got ${threads}`);
  if (threads > cores) {
    flags.warnings.push(`--threads ${threads} is more than the ${cores} CPU cores here; using ${cores}`);
    threads = cores;
  }
  if (cpu && gpuLayers !== undefined && gpuLayers !== 0) throw new Error("--cpu and --gpu-layers > 0 contradict each other");
  return {
    ...flags,
    model,
    port,
    threads,
    parallel,
    ctx: ints.ctx,
    // The GPU-only rule: without --cpu the engine offloads every layer and needs CUDA.
    gpuLayers: cpu ? 0 : (gpuLayers ?? "max"),
    seed: ints.seed ?? -1,
  };
}
