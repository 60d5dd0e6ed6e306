// Makes a pool's engine at every replica (re)start from its config: the in-process mock, or a
// child process (our mock engine program, an external llama-server) driven over HTTP.

import type { Clock } from "../../../runtime/index.ts";
import { MockEngine, OpenAiEngine, TgiEngine, type EngineAdapter } from "../../../adapters/engines/index.ts";
import { mockEngineArgv } from "../../../engines/mock-server/main.ts";
import { builtinEngineArgv } from "../../../engines/builtin/main.ts";
import { poolWorkloads, type PoolConfig } from "../config.ts";
import { ProcessEngine } from "./process-engine.ts";
import { resolveModel, type PrepStep, type ResolveOptions } from "../models/index.ts";

export type EngineFactory = (pool: PoolConfig, replicaId: string, clock: Clock) => EngineAdapter;

export interface EngineFactoryOptions {
  /** Where engine logs (`engine-<pool>.log`) and pid files (`<pool>.pid`) go. */
  runtimeDir: string;
  /** Health wait of a starting engine (120 s) and the poll interval (500 ms). */
  readyTimeoutMs?: number;
  healthIntervalMs?: number;
  stopGraceMs?: number;
  /** Budget of one health poll of a running engine (a hung engine fails the poll). */
  healthTimeoutMs?: number;
  /** How model refs resolve (base dir, cache, downloads); absent = paths as given, no downloads. */
  models?: Omit<ResolveOptions, "expectedSha256" | "onStep">;
  /** Preparation steps of a pool's model (download progress, verification). */
  onModelStep?: (poolId: string, step: PrepStep) => void;
  /** Pools that run on the CPU (no GPU on the node, allow_cpu); the others offload to the GPU. */
  onCpu?: (poolId: string) => boolean;
}

/** The pool's device mask as CUDA_VISIBLE_DEVICES; no devices = inherit (CPU pools). */
function visibleDevices(pool: PoolConfig): string | undefined {
  return pool.devices.length > 0 ? pool.devices.join(",") : undefined;
}

function mockServerFlags(pool: PoolConfig, host: string, port: number, model: string): string[] {
  const m = pool.mock ?? {};
  const flags = ["--host", host, "--port", String(port), "--model", model, "--slots", String(pool.slots)];
  if (pool.ctx) flags.push("--ctx", String(pool.ctx));
  if (m.token_delay_ms !== undefined) flags.push("--token-delay-ms", String(m.token_delay_ms));
  if (m.load_ms !== undefined) flags.push("--load-ms", String(m.load_ms));
  if (m.crash_after_tokens !== undefined) flags.push("--crash-after-tokens", String(m.crash_after_tokens));
  if (m.crash_cuda) flags.push("--crash-cuda");
  if (m.oom) flags.push("--oom");
  if (m.hang_health) flags.push("--hang-health");
  if (m.ignore_sigterm) flags.push("--ignore-sigterm");
  return [...flags, ...(pool.flags ?? [])];
}

/** The pool's llama-server shares one KV cache among its slots (its flags ask for it). */
export function kvUnified(pool: PoolConfig): boolean {
  return (pool.flags ?? []).some((f) => f === "-kvu" || f === "--kv-unified");
}

export function llamaServerArgv(pool: PoolConfig, host: string, port: number, model: string, cpu: boolean): string[] {
  // --metrics: llama-server builds that still export llamacpp:kv_cache_usage_ratio show it there
  // (newer ones are read from /slots, on by default).
  const argv = [pool.binary!, "--model", model, "--host", host, "--port", String(port), "--parallel", String(pool.slots), "--metrics"];
  // `ctx` is what one task may use (ctx_max), as for builtin; llama-server divides --ctx-size
  // among its --parallel slots.
  if (pool.ctx) argv.push("--ctx-size", String(pool.ctx * pool.slots));
  if (pool.threads) argv.push("--threads", String(pool.threads));
  argv.push("--n-gpu-layers", cpu ? "0" : "999");
  // An embedding pool: llama-server answers /v1/embeddings only with --embeddings (and then only that).
  if (poolWorkloads(pool).includes("embedding")) argv.push("--embeddings");
  return [...argv, ...(pool.flags ?? [])];
}

/** Our node-llama-cpp engine; its model id is the pool's model ref (what clients ask for). */
function builtinArgv(pool: PoolConfig, host: string, port: number, model: string, cpu: boolean): string[] {
  const flags = ["--model", model, "--alias", pool.model, "--host", host, "--port", String(port), "--parallel", String(pool.slots), "--threads", String(pool.threads ?? 1)];
  if (pool.ctx) flags.push("--ctx", String(pool.ctx));
  flags.push(...(cpu ? ["--cpu"] : ["--gpu-layers", "max"]));
  return builtinEngineArgv([...flags, ...(pool.flags ?? [])]);
}

export function engineFactory(options: EngineFactoryOptions): EngineFactory {
  return (pool, _replicaId, clock) => {
    const host = pool.host ?? "127.0.0.1";
    const cpu = options.onCpu?.(pool.id) ?? pool.devices.length === 0;
    // The model file for this start: a path as configured, a cached download, or a fresh one.
    const prepare = async () =>
      (
        await resolveModel(pool.model_file ?? pool.model, {
          baseDir: process.cwd(),
          ...options.models,
          expectedSha256: pool.model_digest,
          onStep: (step) => options.onModelStep?.(pool.id, step),
        })
      ).path;
    const common = {
      host,
      prepare,
      port: pool.port,
      // NVML numbers GPUs in PCI bus order; CUDA must agree for device masks to mean the same GPUs.
      // The API and node tokens are the node's secrets, not the engine's.
      env: { CUDA_DEVICE_ORDER: "PCI_BUS_ID", LLORCH_API_TOKEN: undefined, AUTH_TOKEN: undefined, LLORCH_NODE_TOKEN: undefined, ...pool.env },
      cudaVisibleDevices: visibleDevices(pool),
      runtimeDir: options.runtimeDir,
      poolId: pool.id,
      clock,
      readyTimeoutMs: options.readyTimeoutMs,
      healthIntervalMs: options.healthIntervalMs,
      stopGraceMs: options.stopGraceMs,
      healthTimeoutMs: options.healthTimeoutMs,
    };
    switch (pool.engine) {
      case "mock":
        return new MockEngine({
          clock,
          model: pool.model,
          slots: pool.slots,
          faults: {
            tokenDelayMs: pool.mock?.token_delay_ms,
            startDelayMs: pool.mock?.start_delay_ms,
            failAfterTokens: pool.mock?.fail_after_tokens,
            crashAfterTokens: pool.mock?.crash_after_tokens,
            hangAfterTokens: pool.mock?.hang_after_tokens,
          },
        });
      case "mock-server":
        return new ProcessEngine({ ...common, engine: "mock", argv: (port, model) => mockEngineArgv(mockServerFlags(pool, host, port, model ?? pool.model)) });
      case "builtin":
        return new ProcessEngine({ ...common, engine: "llamacpp", argv: (port, model) => builtinArgv(pool, host, port, model ?? pool.model, cpu) });
      case "llamacpp":
        return new ProcessEngine({ ...common, engine: "llamacpp", kvUnified: kvUnified(pool), argv: (port, model) => llamaServerArgv(pool, host, port, model ?? pool.model, cpu) });
      case "openai":
        return new OpenAiEngine({
          baseUrl: pool.url!,
          // Read at each start, never stored in the config: the key rotates with the environment.
          apiKey: pool.api_key_env ? process.env[pool.api_key_env] : undefined,
          model: pool.served_model ?? pool.model,
          api: pool.api,
          clock,
          timeouts: { healthMs: options.healthTimeoutMs },
        });
      case "tgi":
        return new TgiEngine({ baseUrl: pool.url!, apiKey: pool.api_key_env ? process.env[pool.api_key_env] : undefined, clock, timeouts: { healthMs: options.healthTimeoutMs } });
    }
  };
}
