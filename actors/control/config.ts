// Control plane configuration: an optional strict config file (YAML or JSON; unknown keys are
// refused with their path), environment variables over it, flags over both. Secrets (the API
// token) come from the environment only, never from the file. Durable state lives in one state
// directory; the old catalog and artifact directories are only read, once, to import them.

import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { apiToken, checkBind, errnoText, MIN_TOKEN_LENGTH, nodeToken, parseAddr, UsageError } from "../cli.ts";
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
    limits: z
      .object({
        max_body_bytes: PositiveInt.optional(),
        idle_timeout_s: PositiveInt.max(255).optional(),
        catalog_roots: z.array(z.string().min(1)).optional(),
        max_subscribers: PositiveInt.optional(),
        max_subscribers_per_task: PositiveInt.optional(),
      })
      .strict()
      .optional(),
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
  "api-keys-file"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
}

/** A secret read from the environment: refused when shorter than MIN_TOKEN_LENGTH. */
function secret(env: Env, name: string): string | undefined {
  const value = nonEmpty(env[name]);
  if (value !== undefined && value.length < MIN_TOKEN_LENGTH) throw new UsageError(`${name} must be at least ${MIN_TOKEN_LENGTH} characters`);
  return value;
}

/** --tls-cert/--tls-key (LLORCH_TLS_CERT/LLORCH_TLS_KEY): both or neither, read as PEM at start-up. */
function tlsFiles(flags: ControlFlags, env: Env): { cert: string; key: string } | undefined {
  const certPath = nonEmpty(flags["tls-cert"]) ?? nonEmpty(env.LLORCH_TLS_CERT);
  const keyPath = nonEmpty(flags["tls-key"]) ?? nonEmpty(env.LLORCH_TLS_KEY);
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath) throw new UsageError("--tls-cert and --tls-key (LLORCH_TLS_CERT, LLORCH_TLS_KEY) go together");
  const pem = (path: string, what: string, marker: RegExp) => {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      throw new UsageError(`${what} ${path}: cannot read it: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (!marker.test(text)) throw new UsageError(`${what} ${path}: not a PEM file`);
    return text;
  };
  return { cert: pem(certPath, "--tls-cert", /-----BEGIN CERTIFICATE-----/), key: pem(keyPath, "--tls-key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/) };
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer ≥ ${min}, got '${raw}'`);
  return n;
}

/** Bun caps a connection's idle timeout at 255 s. */
function idleTimeout(seconds: number | undefined): number | undefined {
  if (seconds !== undefined && seconds > 255) throw new UsageError(`ORCHD_IDLE_TIMEOUT_S must be at most 255, got '${seconds}'`);
  return seconds;
}

/** ORCHD_CATALOG_ROOTS: directories separated by ':' (the PATH convention). */
function catalogRoots(raw: string | undefined): string[] | undefined {
  return raw?.split(":").filter((p) => p !== "").map((p) => resolve(p));
}

/** An empty variable counts as unset, as for the integer ones. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function bool(env: Env, name: string): boolean {
  return ["1", "true", "yes"].includes((env[name] ?? "").toLowerCase());
}

/**
 * Upstream llama-orch's variable names that mean exactly what one of ours means, and how a value
 * converts (docs/configuration.md#upstream-variable-names). Ours wins when only it is set; both
 * set to different values refuses start-up rather than guessing.
 */
export const UPSTREAM_ENV_ALIASES: readonly { upstream: string; ours: string; convert?: (raw: string) => string }[] = [
  { upstream: "ORCHESTRATORD_ADDR", ours: "ORCHD_ADDR" },
  { upstream: "ORCHESTRATORD_TLS_CERT", ours: "LLORCH_TLS_CERT" },
  { upstream: "ORCHESTRATORD_TLS_KEY", ours: "LLORCH_TLS_KEY" },
  {
    upstream: "ORCHESTRATORD_NODE_TIMEOUT_SECS",
    ours: "ORCHESTRATORD_NODE_TIMEOUT_MS",
    convert: (raw) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`ORCHESTRATORD_NODE_TIMEOUT_SECS must be an integer ≥ 1, got '${raw}'`);
      return String(n * 1000);
    },
  },
];

/** The environment with each upstream name copied onto ours (see UPSTREAM_ENV_ALIASES). */
export function withUpstreamAliases(env: Env): Env {
  const out: Env = { ...env };
  for (const { upstream, ours, convert } of UPSTREAM_ENV_ALIASES) {
    const raw = nonEmpty(env[upstream]);
    if (raw === undefined) continue;
    const value = convert ? convert(raw) : raw;
    const own = nonEmpty(env[ours]);
    if (own !== undefined && own !== value) throw new UsageError(`${ours} and its upstream name ${upstream} are both set, to different values; set only ${ours}`);
    out[ours] = value;
  }
  return out;
}

/** `$XDG_STATE_HOME/llama-orch`, else `~/.local/state/llama-orch` (systemd passes its StateDirectory). */
export function defaultStateDir(env: Env = process.env): string {
  const xdg = nonEmpty(env.XDG_STATE_HOME);
  return join(xdg ?? join(env.HOME || homedir(), ".local", "state"), "llama-orch");
}

/** Everything `bun run control` (and `bun run dev`) needs, resolved and checked. */
export function controlSettings(flags: ControlFlags, rawEnv: Env = process.env) {
  const env = withUpstreamAliases(rawEnv);
  const configPath = flags.config ?? env.ORCHD_CONFIG;
  let file: ControlConfigFile = {};
  if (configPath) {
    let text: string;
    try {
      text = readFileSync(configPath, "utf8");
    } catch (error) {
      throw new ConfigError(`cannot read the config file ${configPath}: ${errnoText(error)}`);
    }
    file = parseControlConfig(text, configPath);
  }
  const addr = parseAddr(flags.addr ?? nonEmpty(env.ORCHD_ADDR) ?? file.addr ?? "127.0.0.1:8080", "--addr");
  const token = apiToken();
  const keys = nonEmpty(flags["api-keys-file"]) ?? nonEmpty(env.LLORCH_API_KEYS_FILE) ?? nonEmpty(env.LLORCH_API_KEYS);
  checkBind(addr.hostname, token, { keys: keys !== undefined, nodeToken: nonEmpty(env.LLORCH_NODE_TOKEN) !== undefined });
  const policy = nonEmpty(env.ORCHD_ADMISSION_POLICY) ?? file.admission?.policy ?? "reject";
  if (policy !== "reject" && policy !== "drop-lru") throw new UsageError(`ORCHD_ADMISSION_POLICY must be 'reject' or 'drop-lru' (got '${policy}')`);
  return {
    ...addr,
    token,
    /** LLORCH_NODE_TOKEN: nodes join with it, and only with it, when set. */
    nodeToken: nodeToken(),
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
    /** Named client keys: a file re-read when it changes, and/or `name:key,…` (see ClientKeys). */
    keysFile: nonEmpty(flags["api-keys-file"]) ?? nonEmpty(env.LLORCH_API_KEYS_FILE),
    keysEnv: nonEmpty(env.LLORCH_API_KEYS),
    metricsToken: secret(env, "LLORCH_METRICS_TOKEN"),
    tls: tlsFiles(flags, env),
    idleTimeoutS: idleTimeout(int(env, "ORCHD_IDLE_TIMEOUT_S", 1) ?? file.limits?.idle_timeout_s),
    catalogRoots: catalogRoots(nonEmpty(env.ORCHD_CATALOG_ROOTS)) ?? file.limits?.catalog_roots,
    subscribers: {
      total: int(env, "ORCHD_MAX_SUBSCRIBERS", 1) ?? file.limits?.max_subscribers,
      perTask: int(env, "ORCHD_MAX_SUBSCRIBERS_PER_TASK", 1) ?? file.limits?.max_subscribers_per_task,
    },
  };
}
export type ControlSettings = ReturnType<typeof controlSettings>;
