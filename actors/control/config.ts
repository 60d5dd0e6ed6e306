// Control plane configuration: an optional strict config file (YAML or JSON; unknown keys are
// refused with their path), environment variables over it, flags over both. Secrets (the API
// token) come from the environment only, never from the file. Durable state lives in one state
// directory; the old catalog and artifact directories are only read, once, to import them.

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { apiToken, checkBind, parseAddr, UsageError } from "../cli.ts";
import { ConfigError, parseConfigText } from "../config-file.ts";
import { CONTROL_DEFAULTS } from "./control-plane.ts";
import { DEFAULT_RETRY_AFTER_MS } from "../../contract/index.ts";

const PositiveInt = z.number().int().min(1);

export const ControlConfigFile = z
  .object({
    addr: z.string().min(1).max(256).optional(),
    node_timeout_ms: PositiveInt.optional(),
    admission: z
      .object({
        capacity: PositiveInt.optional(),
        policy: z.enum(["reject", "drop-lru"]).optional(),
        /** The retry hint (ms) of retriable errors that name none of their own. */
        retry_after_ms: PositiveInt.optional(),
        rate_limits: z.object({ rps: z.number().min(0).optional(), tpm: z.number().min(0).optional() }).strict().optional(),
      })
      .strict()
      .optional(),
    timeouts: z.object({ wall_ms: PositiveInt.optional(), idle_ms: PositiveInt.optional() }).strict().optional(),
    sessions: z
      .object({
        ttl_ms: PositiveInt.optional(),
        max_turns: PositiveInt.optional(),
        budgets: z.object({ tokens: z.number().min(0).optional(), time_ms: z.number().min(0).optional(), cost: z.number().min(0).optional() }).strict().optional(),
      })
      .strict()
      .optional(),
    sse: z.object({ channel_cap: PositiveInt.optional(), metrics_interval_ms: z.number().int().min(0).optional() }).strict().optional(),
    /** The state directory: the state database (catalog, sessions, artifacts, transcripts). */
    state_dir: z.string().min(1).optional(),
    retention: z
      .object({ max_age_ms: PositiveInt.optional(), max_bytes: PositiveInt.optional(), interval_ms: z.number().int().min(0).optional() })
      .strict()
      .optional(),
    store: z.object({ queue_high_water: PositiveInt.optional(), flush_ms: z.number().int().min(0).optional(), max_batch: PositiveInt.optional() }).strict().optional(),
    /** Migration sources only: imported into the state database on first start. */
    artifacts: z.object({ root: z.string().min(1).optional() }).strict().optional(),
    catalog: z.object({ root: z.string().min(1).optional() }).strict().optional(),
    limits: z.object({ max_body_bytes: PositiveInt.optional() }).strict().optional(),
  })
  .strict();
export type ControlConfigFile = z.infer<typeof ControlConfigFile>;

export function parseControlConfig(text: string, source: string): ControlConfigFile {
  return parseConfigText(ControlConfigFile, text, source);
}

export interface ControlFlags {
  addr?: string;
  config?: string;
  "state-dir"?: string;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer ≥ ${min}, got '${raw}'`);
  return n;
}

/** An empty variable counts as unset, as for the integer ones. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function bool(env: Env, name: string): boolean {
  return ["1", "true", "yes"].includes((env[name] ?? "").toLowerCase());
}

/** `$XDG_STATE_HOME/llama-orch`, else `~/.local/state/llama-orch` (systemd passes its StateDirectory). */
export function defaultStateDir(env: Env = process.env): string {
  const xdg = nonEmpty(env.XDG_STATE_HOME);
  return join(xdg ?? join(env.HOME || homedir(), ".local", "state"), "llama-orch");
}

/** Everything `bun run control` (and `bun run dev`) needs, resolved and checked. */
export function controlSettings(flags: ControlFlags, env: Env = process.env) {
  const configPath = flags.config ?? env.ORCHD_CONFIG;
  let file: ControlConfigFile = {};
  if (configPath) {
    let text: string;
    try {
      text = readFileSync(configPath, "utf8");
    } catch (error) {
      throw new ConfigError(`${configPath}: cannot read the config file: ${(error as Error).message}`);
    }
    file = parseControlConfig(text, configPath);
  }
  const addr = parseAddr(flags.addr ?? nonEmpty(env.ORCHD_ADDR) ?? file.addr ?? "127.0.0.1:8080", "--addr");
  const token = apiToken();
  checkBind(addr.hostname, token);
  const policy = nonEmpty(env.ORCHD_ADMISSION_POLICY) ?? file.admission?.policy ?? "reject";
  if (policy !== "reject" && policy !== "drop-lru") throw new UsageError(`ORCHD_ADMISSION_POLICY must be 'reject' or 'drop-lru' (got '${policy}')`);
  return {
    ...addr,
    token,
    authOptional: bool(env, "AUTH_OPTIONAL"),
    capacity: int(env, "ORCHD_ADMISSION_CAPACITY", 1) ?? file.admission?.capacity ?? CONTROL_DEFAULTS.capacity,
    policy: policy as "reject" | "drop-lru",
    retryAfterMs: int(env, "ORCHD_RETRY_AFTER_MS", 1) ?? file.admission?.retry_after_ms ?? DEFAULT_RETRY_AFTER_MS,
    nodeTimeoutMs: int(env, "ORCHESTRATORD_NODE_TIMEOUT_MS", 1) ?? file.node_timeout_ms ?? CONTROL_DEFAULTS.nodeTimeoutMs,
    rateLimits: {
      rps: int(env, "ORCHD_RATE_LIMIT_RPS", 0) ?? file.admission?.rate_limits?.rps,
      tpm: int(env, "ORCHD_RATE_LIMIT_TPM", 0) ?? file.admission?.rate_limits?.tpm,
    },
    timeouts: {
      wall_ms: int(env, "ORCHD_TIMEOUT_WALL_MS", 1) ?? file.timeouts?.wall_ms,
      idle_ms: int(env, "ORCHD_TIMEOUT_IDLE_MS", 1) ?? file.timeouts?.idle_ms,
    },
    sessions: {
      ttlMs: file.sessions?.ttl_ms,
      maxTurns: file.sessions?.max_turns,
      budgets: file.sessions?.budgets,
    },
    sseChannelCap: int(env, "ORCHD_SSE_CHANNEL_CAP", 1) ?? file.sse?.channel_cap,
    metricsIntervalMs: int(env, "ORCHD_SSE_METRICS_INTERVAL_MS", 0) ?? file.sse?.metrics_interval_ms,
    stateDir: resolve(flags["state-dir"] || nonEmpty(env.ORCHD_STATE_DIR) || file.state_dir || defaultStateDir(env)),
    retention: {
      maxAgeMs: int(env, "ORCHD_RETENTION_MAX_AGE_MS", 1) ?? file.retention?.max_age_ms,
      maxBytes: int(env, "ORCHD_RETENTION_MAX_BYTES", 1) ?? file.retention?.max_bytes,
      intervalMs: int(env, "ORCHD_RETENTION_INTERVAL_MS", 0) ?? file.retention?.interval_ms,
    },
    storeQueue: {
      highWaterItems: int(env, "ORCHD_STORE_QUEUE_HIGH_WATER", 1) ?? file.store?.queue_high_water,
      flushMs: file.store?.flush_ms,
      maxBatch: file.store?.max_batch,
    },
    // Only when set: the old defaults were a temp directory and a path under the working directory.
    artifactsRoot: nonEmpty(env.ORCH_ARTIFACTS_FS_ROOT) ?? file.artifacts?.root,
    catalogRoot: nonEmpty(env.ORCHD_CATALOG_ROOT) ?? file.catalog?.root,
    maxBodyBytes: int(env, "ORCHD_MAX_BODY_BYTES", 1) ?? file.limits?.max_body_bytes,
  };
}
export type ControlSettings = ReturnType<typeof controlSettings>;
