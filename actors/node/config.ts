// Node configuration: strict (unknown keys are refused with their path). Flags win over the
// environment, the environment over the file, the file over defaults.

import { z } from "zod";
import { parseConfigText } from "../config-file.ts";
import { UsageError } from "../cli.ts";

export { ConfigError, formatIssues, parseConfigText } from "../config-file.ts";

/** Faults of the mock engines: in-process (`engine: mock`) or the child program (`mock-server`). */
export const MockEngineConfig = z
  .object({
    token_delay_ms: z.number().int().min(0).optional(),
    crash_after_tokens: z.number().int().min(0).optional(),
    // in-process only
    start_delay_ms: z.number().int().min(0).optional(),
    fail_after_tokens: z.number().int().min(0).optional(),
    hang_after_tokens: z.number().int().min(0).optional(),
    // mock-server only
    load_ms: z.number().int().min(0).optional(),
    crash_cuda: z.boolean().optional(),
    oom: z.boolean().optional(),
    hang_health: z.boolean().optional(),
    ignore_sigterm: z.boolean().optional(),
  })
  .strict();

const IN_PROCESS_ONLY = ["start_delay_ms", "fail_after_tokens", "hang_after_tokens"] as const;
const SERVER_ONLY = ["load_ms", "crash_cuda", "oom", "hang_health", "ignore_sigterm"] as const;

export const PoolConfig = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "pool ids are 1-64 letters, digits, '.', '_' or '-'"),
    /**
     * builtin: our node-llama-cpp engine as a child process, on the GGUF file `model`.
     * mock: in-process test engine. mock-server: our llama.cpp-compatible test engine as a child
     * process. llamacpp: an external `llama-server` binary (`binary`) as a child process.
     * openai / tgi: a server someone else runs (vLLM, SGLang, a remote API; TGI) at `url`.
     */
    engine: z.enum(["builtin", "mock", "mock-server", "llamacpp", "openai", "tgi"]),
    model: z.string().min(1),
    devices: z.array(z.number().int().min(0)).default([]),
    slots: z.number().int().min(1).max(1024).default(1),
    /** Context length the pool serves (tokens); placement and admission check requests against it. */
    ctx: z.number().int().min(1).max(10_000_000).optional(),
    allow_cpu: z.boolean().default(false),
    mock: MockEngineConfig.optional(),
    /** The file (or URL) the engine loads when `model` is a name clients use, e.g. model: tiny. */
    model_file: z.string().min(1).optional(),
    /** Expected sha256 of the model file (`sha256:<hex>` or hex): verified before the engine starts. */
    model_digest: z.string().regex(/^(sha256:)?[0-9a-fA-F]{64}$/, "a sha256 digest: sha256:<64 hex>").optional(),
    /** builtin/llamacpp: CPU threads of the engine (default 1; never more than the cores). */
    threads: z.number().int().min(1).max(1024).optional(),
    /** llamacpp: path of the llama-server program. */
    binary: z.string().min(1).optional(),
    /** Extra engine arguments, appended to the ones the node sets. */
    flags: z.array(z.string().max(4096)).max(256).optional(),
    /** Engine listen address; the port defaults to a free one at each start. */
    host: z.string().min(1).max(256).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    /** openai/tgi: the server's base URL; the node neither starts nor stops it. */
    url: z.string().url().optional(),
    /** openai: name of the environment variable holding the API key (never the key itself). */
    api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
    /** openai: the model name the server knows (default: `model`). */
    served_model: z.string().min(1).optional(),
    /** openai: which endpoint streams (default completions). */
    api: z.enum(["completions", "chat"]).optional(),
    /** Extra environment of the engine process. */
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
    /** What the pool serves (completion, embedding); default: what its engine can (see poolWorkloads). */
    workloads: z.array(z.enum(["completion", "embedding"])).min(1).max(2).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const process = p.engine !== "mock";
    if (p.workloads?.includes("embedding") && p.engine === "tgi") ctx.addIssue({ code: "custom", path: ["workloads"], message: "engine 'tgi' serves no embeddings" });
    if (p.engine === "llamacpp" && p.workloads?.includes("embedding") && p.workloads.includes("completion")) {
      ctx.addIssue({ code: "custom", path: ["workloads"], message: "llama-server started with --embeddings serves embeddings only: use one pool per workload" });
    }
    if (p.engine === "openai" || p.engine === "tgi") {
      if (!p.url) ctx.addIssue({ code: "custom", path: ["url"], message: `engine '${p.engine}' needs the server's url` });
      if (p.mock) ctx.addIssue({ code: "custom", path: ["mock"], message: "mock faults apply to the mock engines only" });
      if (p.binary || p.flags || p.port || p.env) ctx.addIssue({ code: "custom", path: ["engine"], message: `binary, flags, port and env do not apply to engine '${p.engine}'` });
      return;
    }
    if (p.url || p.api_key_env || p.served_model || p.api) {
      ctx.addIssue({ code: "custom", path: ["url"], message: "url, api_key_env, served_model and api apply to engines openai and tgi only" });
    }
    for (const key of process ? IN_PROCESS_ONLY : SERVER_ONLY) {
      if (p.mock?.[key] !== undefined) ctx.addIssue({ code: "custom", path: ["mock", key], message: `not an option of engine '${p.engine}'` });
    }
    if (p.mock && (p.engine === "llamacpp" || p.engine === "builtin")) ctx.addIssue({ code: "custom", path: ["mock"], message: "mock faults apply to the mock engines only" });
    if (p.threads !== undefined && p.engine !== "llamacpp" && p.engine !== "builtin") ctx.addIssue({ code: "custom", path: ["threads"], message: "threads applies to engines builtin and llamacpp" });
    if (p.engine === "llamacpp" && !p.binary) ctx.addIssue({ code: "custom", path: ["binary"], message: "engine 'llamacpp' needs the path of llama-server" });
    if (!process && (p.binary || p.flags || p.port || p.env)) ctx.addIssue({ code: "custom", path: ["engine"], message: "binary, flags, port and env apply to process engines only" });
  });
export type PoolConfig = z.infer<typeof PoolConfig>;

/**
 * The workloads a pool advertises: its `workloads`, else what its engine serves as started
 * (llama-server needs --embeddings, which stops its completions, and TGI has no embeddings API).
 */
export function poolWorkloads(pool: Pick<PoolConfig, "engine" | "workloads">): ("completion" | "embedding")[] {
  if (pool.workloads) return [...new Set(pool.workloads)];
  return pool.engine === "llamacpp" || pool.engine === "tgi" ? ["completion"] : ["completion", "embedding"];
}

export const NodeConfigFile = z
  .object({
    node_id: z.string().min(1).optional(),
    control_url: z.string().url().optional(),
    /** May pools name https:// or hf: models to download (POOL_MANAGERD_ALLOW_DOWNLOADS wins)? Default false. */
    allow_downloads: z.boolean().optional(),
    /** Where downloaded models are kept (POOL_MANAGERD_MODEL_CACHE wins); default ~/.cache/llama-orch/models. */
    model_cache: z.string().min(1).optional(),
    pools: z.array(PoolConfig).min(1),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    for (const [i, p] of cfg.pools.entries()) {
      if (seen.has(p.id)) ctx.addIssue({ code: "custom", path: ["pools", i, "id"], message: `duplicate pool id '${p.id}'` });
      seen.add(p.id);
    }
  });
export type NodeConfigFile = z.infer<typeof NodeConfigFile>;

export function parseNodeConfig(text: string, source: string): NodeConfigFile {
  return parseConfigText(NodeConfigFile, text, source);
}


/** The one pool of `--model PATH`: the built-in engine on that GGUF, served as its file name without `.gguf`. */
export function builtinPool(file: string, allowCpu: boolean, slots = 2): z.input<typeof PoolConfig> {
  const name = file.split("/").pop()!.replace(/\.gguf$/i, "") || "model";
  return { id: "default", engine: "builtin", model: name, model_file: file, slots, allow_cpu: allowCpu };
}

type Env = Record<string, string | undefined>;

/**
 * Upstream llama-orch's variable names a node reads in place of ours, same unit
 * (docs/configuration.md#upstream-variable-names). Ours wins when only it is set; both set to
 * different values refuses start-up rather than guessing.
 */
export const NODE_UPSTREAM_ENV_ALIASES: readonly { upstream: string; ours: string }[] = [
  { upstream: "ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS", ours: "POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS" },
];

/** The environment with each upstream name copied onto ours (see NODE_UPSTREAM_ENV_ALIASES). */
export function withNodeUpstreamAliases(env: Env): Env {
  const out: Env = { ...env };
  for (const { upstream, ours } of NODE_UPSTREAM_ENV_ALIASES) {
    const raw = env[upstream];
    if (raw === undefined || raw === "") continue;
    const own = env[ours];
    if (own !== undefined && own !== "" && own.trim() !== raw.trim()) throw new UsageError(`${ours} and its upstream name ${upstream} are both set, to different values; set only ${ours}`);
    out[ours] = raw;
  }
  return out;
}

/** POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS (upstream: ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS) in ms; default 10 s. */
export function heartbeatIntervalMs(env: Env): number {
  const name = "POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS";
  const raw = withNodeUpstreamAliases(env)[name];
  if (raw === undefined || raw === "") return 10_000;
  const n = Number(raw);
  const given = env[name] !== undefined && env[name] !== "" ? name : "ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS";
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${given} must be an integer ≥ 1, got '${raw}'`);
  return n * 1000;
}
