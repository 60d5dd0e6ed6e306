// Messages that cross between the control plane and nodes. Payloads are plain data (plus refs),
// because every one of them is serialized by the transport.

import { z } from "zod";
import type { ActorRef } from "../runtime/index.ts";
import { MAX_TOP_LOGPROBS, type EngineRequest, type TokenLogprob } from "./engine.ts";
import { ErrorEnvelope } from "./errors.ts";
import { ToolCalls, type ToolCall } from "./chat.ts";
import type { EmbedMsg, EmbedReply } from "./embeddings.ts";
import { GpuInfo, NodeCapabilities } from "./node.ts";
import { Id } from "./ids.ts";
import { PoolView } from "./pool.ts";

export const REGISTRY_PATH = "control/registry";
export const AGENT_PATH = "node/agent";

/** Node → control registry. */
export const RegisterPayload = z.object({
  type: z.literal("register"),
  node_id: Id,
  machine_id: z.string().max(128).optional(),
  version: z.string().max(64).optional(),
  address: z.string().max(512).optional(),
  pools: z.array(PoolView).max(256),
  capabilities: NodeCapabilities.optional(),
});
export const HeartbeatPayload = z.object({
  type: z.literal("heartbeat"),
  node_id: Id,
  pools: z.array(PoolView).max(256),
  /** The latest GPU sample (VRAM, utilisation). */
  gpus: z.array(GpuInfo).max(64).optional(),
});

/** `agent` is absent for a node registered over REST (tools): it is listed, never given tasks. */
export type RegisterMsg = z.infer<typeof RegisterPayload> & { agent?: AgentRef };
export type HeartbeatMsg = z.infer<typeof HeartbeatPayload>;
export const DeregisterPayload = z.object({ type: z.literal("deregister"), node_id: Id }).strict();
export type DeregisterMsg = z.infer<typeof DeregisterPayload>;

export interface RegisterReply {
  ok: boolean;
  heartbeat_ms: number;
  message: string;
}

/** Control → node agent: pools control (docs/contract.md#pools-control). Checked by the agent on arrival. */
export const PoolHealthPayload = z.object({ type: z.literal("pool-health"), pool_id: z.string().min(1).max(128) }).strict();
export const PoolDrainPayload = z
  .object({
    type: z.literal("pool-drain"),
    pool_id: z.string().min(1).max(128),
    /** How long in-flight tasks may run on, from arrival; then they are stopped. */
    deadline_ms: z.number().int().min(0),
  })
  .strict();
export const PoolReloadPayload = z
  .object({
    type: z.literal("pool-reload"),
    pool_id: z.string().min(1).max(128),
    new_model_ref: z.string().min(1).max(1024),
    /** Bound on waiting for in-flight tasks before the swap; past it the reload is abandoned. */
    drain_deadline_ms: z.number().int().min(0),
  })
  .strict();
/** Start a drained pool's engine again (or wait for a restarting one) and answer once it is ready. */
export const PoolPreloadPayload = z.object({ type: z.literal("pool-preload"), pool_id: z.string().min(1).max(128) }).strict();
/** Stop the pool's engine and remove the model files this node cached for it; refused while tasks run. */
export const PoolPurgePayload = z.object({ type: z.literal("pool-purge"), pool_id: z.string().min(1).max(128) }).strict();
export type PoolPurgeMsg = z.infer<typeof PoolPurgePayload>;
export type PoolHealthMsg = z.infer<typeof PoolHealthPayload>;
export type PoolDrainMsg = z.infer<typeof PoolDrainPayload>;
export type PoolReloadMsg = z.infer<typeof PoolReloadPayload>;
export type PoolPreloadMsg = z.infer<typeof PoolPreloadPayload>;

/** Why a pool operation did not go through; the control plane maps reasons onto HTTP statuses. */
export const PoolOpReason = z.enum([
  "not_found",
  "invalid",
  /** Another drain or reload of the pool is under way. */
  "busy",
  /** In-flight tasks outlived the reload's drain deadline; the old engine kept serving. */
  "drain_timeout",
  /** The new engine failed; the old model serves again. */
  "rolled_back",
  /** The new engine failed and so did the old one's restart. */
  "rollback_failed",
  /** The pool's manager did not answer (restarting), or the pool may not run on this node. */
  "unavailable",
  /** A preloaded engine did not become ready; a drained pool stays drained. */
  "preload_failed",
  /** The engine stopped but a cached model file could not be removed. */
  "purge_failed",
]);
export type PoolOpReason = z.infer<typeof PoolOpReason>;

const PoolOpFailure = z.object({
  ok: z.literal(false),
  node_id: z.string(),
  pool_id: z.string(),
  reason: PoolOpReason,
  error: ErrorEnvelope,
});

/** One node's view of one pool. */
export const NodePoolHealth = z.object({
  node_id: z.string(),
  pool_id: z.string(),
  /** The engine is up (it may still be loading or draining). */
  live: z.boolean(),
  /** Takes new work: engine ready and not draining. */
  ready: z.boolean(),
  draining: z.boolean(),
  /** A drain, reload, preload or purge under way. */
  operation: z.enum(["drain", "reload", "preload", "purge"]).optional(),
  engine: z.string(),
  engine_version: z.string().optional(),
  model: z.string(),
  active_leases: z.number().int().min(0),
  slots_free: z.number().int().min(0),
  slots_total: z.number().int().min(0),
  last_error: z.string().optional(),
});
export type NodePoolHealth = z.infer<typeof NodePoolHealth>;

export const PoolHealthReply = z.discriminatedUnion("ok", [NodePoolHealth.extend({ ok: z.literal(true) }), PoolOpFailure]);
export type PoolHealthReply = z.infer<typeof PoolHealthReply>;

export const PoolDrainReply = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    node_id: z.string(),
    pool_id: z.string(),
    draining: z.literal(true),
    /** The pool was already draining (or drained); the earlier drain stands. */
    already: z.boolean(),
    active_leases: z.number().int().min(0),
  }),
  PoolOpFailure,
]);
export type PoolDrainReply = z.infer<typeof PoolDrainReply>;

export const PoolReloadReply = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    node_id: z.string(),
    pool_id: z.string(),
    /** The pool already served this model, ready and not draining: nothing was restarted. */
    unchanged: z.boolean(),
    previous_model: z.string(),
    model: z.string(),
    engine_version: z.string().optional(),
    duration_ms: z.number().int().min(0),
  }),
  PoolOpFailure.extend({
    previous_model: z.string().optional(),
    /** The model served now (the old one after a rollback). */
    model: z.string().optional(),
    duration_ms: z.number().int().min(0).optional(),
  }),
]);
export type PoolReloadReply = z.infer<typeof PoolReloadReply>;

export const PoolPreloadReply = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    node_id: z.string(),
    pool_id: z.string(),
    /** The pool was already ready: nothing was started or waited for. */
    already: z.boolean(),
    model: z.string(),
    engine_version: z.string().optional(),
    duration_ms: z.number().int().min(0),
  }),
  PoolOpFailure.extend({ model: z.string().optional(), duration_ms: z.number().int().min(0).optional() }),
]);
export type PoolPreloadReply = z.infer<typeof PoolPreloadReply>;

export const PoolPurgeReply = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    node_id: z.string(),
    pool_id: z.string(),
    removed: z.array(z.object({ path: z.string().max(4096), bytes: z.number().int().min(0) })).max(16),
    /** Why nothing was removed (a local path of the pools file, a name, an engine elsewhere). */
    kept: z.string().max(2048).optional(),
    model: z.string(),
    duration_ms: z.number().int().min(0),
  }),
  PoolOpFailure.extend({ model: z.string().optional(), duration_ms: z.number().int().min(0).optional() }),
]);
export type PoolPurgeReply = z.infer<typeof PoolPurgeReply>;

/** Control → node agent. */
export type AgentMsg =
  | { type: "dispatch"; task_id: string; pool_id: string; request: EngineRequest; sink: TaskSinkRef }
  | { type: "cancel"; task_id: string; pool_id: string }
  | PoolHealthMsg
  | PoolDrainMsg
  | PoolReloadMsg
  | PoolPreloadMsg
  | PoolPurgeMsg
  | EmbedMsg;

export interface AgentLinkReplies {
  embed: EmbedReply;
  "pool-health": PoolHealthReply;
  "pool-drain": PoolDrainReply;
  "pool-reload": PoolReloadReply;
  "pool-preload": PoolPreloadReply;
  "pool-purge": PoolPurgeReply;
}

/** Typed for tells; every agent answers the pool asks, see `asPoolsAgent`. */
export type AgentRef = ActorRef<AgentMsg>;
export type AgentPoolsRef = ActorRef<AgentMsg, AgentLinkReplies>;

/** An agent ref with the replies of the pool asks (every node agent answers them). */
export function asPoolsAgent(agent: AgentRef): AgentPoolsRef {
  return agent as AgentPoolsRef;
}

/** Replica (node) → task (control): the engine's stream, in order. */
export type TaskEngineMsg =
  | {
      type: "engine-started";
      node_id: string;
      pool_id: string;
      replica_id: string;
      engine: string;
      engine_version: string;
      tokens_in?: number;
    }
  /** `lp`: the token's log probability, only for a task that asked for logprobs. */
  | { type: "engine-token"; t: string; i: number; lp?: TokenLogprob }
  /**
   * Tokens `from`, `from + 1`, … that the engine produced together: one message instead of one each.
   * `lp`, only for a task that asked for logprobs: each token's log probability, parallel to `t`.
   */
  | { type: "engine-tokens"; from: number; t: string[]; lp?: TokenLogprob[] }
  | { type: "engine-end"; tokens_out: number; decode_ms: number; stop_reason: "length" | "stop" | "canceled"; tokens_in?: number; tool_calls?: ToolCall[] }
  | { type: "engine-error"; error: ErrorEnvelope };

export type TaskSinkRef = ActorRef<TaskEngineMsg>;

// What a node may send, checked at the control plane's end of the link before any actor sees it
// (actors/control/links). Strict: an unknown field is refused, as on the HTTP API.

/** Most tokens in one `engine-tokens` batch (a replica sends at most 256). */
export const MAX_TOKENS_PER_BATCH = 4096;
/** Longest text of one token. */
export const MAX_TOKEN_CHARS = 65_536;
const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Label = z.string().min(1).max(256);

export const EngineStartedPayload = z
  .object({
    type: z.literal("engine-started"),
    node_id: Id,
    pool_id: Id,
    replica_id: Label,
    engine: Label,
    engine_version: z.string().max(256),
    tokens_in: Count.optional(),
  })
  .strict();
/** Longest text of an alternative token in a log probability's `top`. */
export const MAX_TOP_TOKEN_CHARS = 1024;
/** A log probability: finite and at most 0 (JSON has no -Infinity; engines send a floor such as -9999 instead). */
const LogprobValue = z.number().min(-Number.MAX_VALUE).max(0);
export const TokenLogprobPayload = z
  .object({
    logprob: LogprobValue,
    top: z.array(z.object({ t: z.string().max(MAX_TOP_TOKEN_CHARS), logprob: LogprobValue }).strict()).max(MAX_TOP_LOGPROBS).optional(),
  })
  .strict();
export const EngineTokenPayload = z.object({ type: z.literal("engine-token"), t: z.string().max(MAX_TOKEN_CHARS), i: Count, lp: TokenLogprobPayload.optional() }).strict();
export const EngineTokensPayload = z
  .object({
    type: z.literal("engine-tokens"),
    from: Count,
    t: z.array(z.string().max(MAX_TOKEN_CHARS)).min(1).max(MAX_TOKENS_PER_BATCH),
    lp: z.array(TokenLogprobPayload).max(MAX_TOKENS_PER_BATCH).optional(),
  })
  .strict()
  .refine((p) => p.lp === undefined || p.lp.length === p.t.length, { message: "lp must be parallel to t", path: ["lp"] });
export const EngineEndPayload = z
  .object({
    type: z.literal("engine-end"),
    tokens_out: Count,
    decode_ms: z.number().min(0).max(Number.MAX_SAFE_INTEGER),
    stop_reason: z.enum(["length", "stop", "canceled"]),
    tokens_in: Count.optional(),
    /** The model's function calls, whole (ids, names, arguments as JSON text), bounded by ToolCalls. */
    tool_calls: ToolCalls.optional(),
  })
  .strict();
export const EngineErrorPayload = z.object({ type: z.literal("engine-error"), error: ErrorEnvelope.strict() }).strict();

/** The schema of each message a node may send a task, by type. */
export const TASK_ENGINE_PAYLOADS = {
  "engine-started": EngineStartedPayload,
  "engine-token": EngineTokenPayload,
  "engine-tokens": EngineTokensPayload,
  "engine-end": EngineEndPayload,
  "engine-error": EngineErrorPayload,
} as const;

// The schemas describe the messages the actors handle: a change to one side fails to compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _sameEngineMsgs: Same<{ [K in keyof typeof TASK_ENGINE_PAYLOADS]: z.infer<(typeof TASK_ENGINE_PAYLOADS)[K]> }[keyof typeof TASK_ENGINE_PAYLOADS], TaskEngineMsg> = true;
void _sameEngineMsgs;

/**
 * The token messages, checked by hand: they are the relay's hot path (one per token or per batch),
 * and these few comparisons cost a fraction of the zod parse. They accept exactly what
 * EngineTokenPayload and EngineTokensPayload accept (link.test.ts holds them to it).
 */
export function isEngineTokenPayload(p: unknown): boolean {
  if (typeof p !== "object" || p === null || Array.isArray(p)) return false;
  const o = p as Record<string, unknown>;
  let keys = 0;
  for (const _ in o) keys++;
  if (keys !== 3 && (keys !== 4 || o.lp === undefined || !isTokenLogprob(o.lp))) return false;
  return o.type === "engine-token" && typeof o.t === "string" && o.t.length <= MAX_TOKEN_CHARS && isCount(o.i);
}

export function isEngineTokensPayload(p: unknown): boolean {
  if (typeof p !== "object" || p === null || Array.isArray(p)) return false;
  const o = p as Record<string, unknown>;
  let keys = 0;
  for (const _ in o) keys++;
  if ((keys !== 3 && (keys !== 4 || o.lp === undefined)) || o.type !== "engine-tokens" || !isCount(o.from)) return false;
  const t = o.t;
  if (!Array.isArray(t) || t.length === 0 || t.length > MAX_TOKENS_PER_BATCH) return false;
  for (let k = 0; k < t.length; k++) {
    const s = t[k];
    if (typeof s !== "string" || s.length > MAX_TOKEN_CHARS) return false;
  }
  if (keys === 3) return true;
  // With logprobs (a task asked for them): one per token, each bounded (top ≤ MAX_TOP_LOGPROBS).
  const lp = o.lp;
  if (!Array.isArray(lp) || lp.length !== t.length) return false;
  for (let k = 0; k < lp.length; k++) if (!isTokenLogprob(lp[k])) return false;
  return true;
}

/** What TokenLogprobPayload accepts: `{logprob, top?: [{t, logprob}] (≤ MAX_TOP_LOGPROBS)}`, nothing else. */
function isTokenLogprob(v: unknown): boolean {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  let keys = 0;
  for (const _ in o) keys++;
  if (!isLogprob(o.logprob)) return false;
  if (keys === 1) return true;
  const top = o.top;
  if (keys !== 2 || !Array.isArray(top) || top.length > MAX_TOP_LOGPROBS) return false;
  for (let k = 0; k < top.length; k++) {
    const a = top[k];
    if (typeof a !== "object" || a === null || Array.isArray(a)) return false;
    let n = 0;
    for (const _ in a) n++;
    const e = a as Record<string, unknown>;
    if (n !== 2 || typeof e.t !== "string" || e.t.length > MAX_TOP_TOKEN_CHARS || !isLogprob(e.logprob)) return false;
  }
  return true;
}

function isLogprob(v: unknown): boolean {
  return typeof v === "number" && v <= 0 && v >= -Number.MAX_VALUE;
}

function isCount(v: unknown): boolean {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}
