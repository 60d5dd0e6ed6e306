// Pools on the wire: the snapshot a node reports for each pool (registration, heartbeats, node
// listings), and pools control (/v2/pools/{id}/health|drain|reload|preload|purge) with the port the
// routes call. The control plane forwards each call to the nodes holding the pool over the node
// link (docs/contract.md#pools-control).

import { z } from "zod";
import { Id, safeText } from "./ids.ts";
import { ErrorEnvelope } from "./errors.ts";
import { PreparationStep } from "./task.ts";

export const PoolView = z.object({
  pool_id: z.string(),
  ready: z.boolean(),
  draining: z.boolean(),
  engine: z.string(),
  engine_version: z.string().optional(),
  slots_total: z.number().int(),
  slots_free: z.number().int(),
  vram_free_bytes: z.number().int().optional(),
  vram_total_bytes: z.number().int().optional(),
  /** Largest context the pool's model serves. */
  ctx_max: z.number().int().optional(),
  /** GPU device ids of the pool's device mask. */
  devices: z.array(z.number().int()).optional(),
  replica_id: z.string().optional(),
  models_available: z.array(z.string()),
  /** What the pool serves; absent means completion only. */
  workloads: z.array(z.enum(["completion", "embedding"])).max(8).optional(),
  last_error: z.string().optional(),
  /** What the pool is doing before it can be ready (model download, verification), with progress. */
  preparation: z.array(PreparationStep).max(16).optional(),
  /** Share of the engine's KV cache in use at its latest health poll, when the engine says. */
  kv_cache_usage_ratio: z.number().min(0).max(1).optional(),
});
export type PoolView = z.infer<typeof PoolView>;

/** Longest drain deadline accepted (one day); longer is a typo more often than a plan. */
export const MAX_DRAIN_DEADLINE_MS = 86_400_000;
/** How long a reload waits for in-flight tasks when the request names no deadline. */
export const DEFAULT_RELOAD_DRAIN_MS = 30_000;

const NodeId = Id;

export const PoolDrainRequest = z
  .object({
    /** How long in-flight tasks may run on (ms from receipt); then they are stopped. */
    deadline_ms: z.number().int().min(0).max(MAX_DRAIN_DEADLINE_MS),
    /** Only this node's pool; default: every node holding the pool. */
    node_id: NodeId.optional(),
  })
  .strict();
export type PoolDrainRequest = z.infer<typeof PoolDrainRequest>;

export const PoolReloadRequest = z
  .object({
    new_model_ref: safeText(1024),
    /** Bound on waiting for in-flight tasks before the swap (default 30 s); past it, nothing changes. */
    deadline_ms: z.number().int().min(0).max(MAX_DRAIN_DEADLINE_MS).optional(),
    node_id: NodeId.optional(),
  })
  .strict();
export type PoolReloadRequest = z.infer<typeof PoolReloadRequest>;

export const PoolPreloadRequest = z
  .object({
    /** Only this node's pool; default: every node holding the pool. */
    node_id: NodeId.optional(),
  })
  .strict();
export type PoolPreloadRequest = z.infer<typeof PoolPreloadRequest>;

export const PoolPurgeRequest = z
  .object({
    /** Only this node's pool; default: every node holding the pool. */
    node_id: NodeId.optional(),
  })
  .strict();
export type PoolPurgeRequest = z.infer<typeof PoolPurgeRequest>;

export const PoolNodeHealthV2 = z.object({
  node_id: z.string(),
  /** False for an offline or unreachable node, and for a drained pool (its engine is stopped). */
  live: z.boolean(),
  ready: z.boolean(),
  draining: z.boolean(),
  /** A drain, reload, preload or purge under way on this node. */
  operation: z.enum(["drain", "reload", "preload", "purge"]).optional(),
  engine_version: z.string().optional(),
  model: z.string().optional(),
  active_leases: z.number().int(),
  slots_free: z.number().int(),
  slots_total: z.number().int(),
  last_error: z.string().optional(),
});
export type PoolNodeHealthV2 = z.infer<typeof PoolNodeHealthV2>;

/** Over all nodes: live/ready when any node is, draining when every node is; metrics summed. */
export const PoolHealthV2 = z.object({
  pool_id: z.string(),
  live: z.boolean(),
  ready: z.boolean(),
  draining: z.boolean(),
  metrics: z.object({
    active_leases: z.number().int(),
    slots_free: z.number().int(),
    slots_total: z.number().int(),
    /** Tasks waiting in the control plane's admission queue (all pools). */
    queue_depth: z.number().int().optional(),
  }),
  last_error: z.string().optional(),
  /** Present when every node runs the same engine version. */
  engine_version: z.string().optional(),
  models_available: z.array(z.string()),
  nodes: z.array(PoolNodeHealthV2),
});
export type PoolHealthV2 = z.infer<typeof PoolHealthV2>;

export const PoolDrainNodeV2 = z.object({
  node_id: z.string(),
  draining: z.boolean(),
  /** The pool was already draining on this node; the earlier drain stands. */
  already: z.boolean().optional(),
  active_leases: z.number().int().optional(),
  error: ErrorEnvelope.optional(),
});

export const PoolDrainResponseV2 = z.object({
  pool_id: z.string(),
  draining: z.literal(true),
  deadline_ms: z.number().int(),
  nodes: z.array(PoolDrainNodeV2),
});
export type PoolDrainResponseV2 = z.infer<typeof PoolDrainResponseV2>;

export const PoolReloadNodeV2 = z.object({
  node_id: z.string(),
  success: z.boolean(),
  rolled_back: z.boolean(),
  /** The model this node serves now. */
  model: z.string().optional(),
  previous_model: z.string().optional(),
  engine_version: z.string().optional(),
  duration_ms: z.number().int().optional(),
  error: ErrorEnvelope.optional(),
});
export type PoolReloadNodeV2 = z.infer<typeof PoolReloadNodeV2>;

export const PoolReloadResponseV2 = z.object({
  pool_id: z.string(),
  success: z.literal(true),
  rolled_back: z.literal(false),
  new_engine_version: z.string(),
  duration_ms: z.number().int(),
  model: z.string(),
  nodes: z.array(PoolReloadNodeV2),
});
export type PoolReloadResponseV2 = z.infer<typeof PoolReloadResponseV2>;

export const PoolPreloadNodeV2 = z.object({
  node_id: z.string(),
  /** The pool's engine is ready on this node. */
  ready: z.boolean(),
  /** It already was: nothing was started or waited for. */
  already: z.boolean().optional(),
  model: z.string().optional(),
  engine_version: z.string().optional(),
  duration_ms: z.number().int().optional(),
  error: ErrorEnvelope.optional(),
});
export type PoolPreloadNodeV2 = z.infer<typeof PoolPreloadNodeV2>;

export const PoolPreloadResponseV2 = z.object({
  pool_id: z.string(),
  ready: z.literal(true),
  duration_ms: z.number().int(),
  nodes: z.array(PoolPreloadNodeV2),
});
export type PoolPreloadResponseV2 = z.infer<typeof PoolPreloadResponseV2>;

/** A model file a purge removed from the node's model cache. */
export const PurgedFile = z.object({ path: z.string(), bytes: z.number().int().min(0) });
export type PurgedFile = z.infer<typeof PurgedFile>;

export const PoolPurgeNodeV2 = z.object({
  node_id: z.string(),
  /** The engine is stopped and the pool's cached model files are gone on this node. */
  purged: z.boolean(),
  /** Files removed from the model cache (the download and its partial and resume files). */
  removed: z.array(PurgedFile).optional(),
  bytes_freed: z.number().int().optional(),
  /** Why nothing was removed: the model is a local path of the pools file, or a name, or runs elsewhere. */
  kept: z.string().optional(),
  model: z.string().optional(),
  duration_ms: z.number().int().optional(),
  error: ErrorEnvelope.optional(),
});
export type PoolPurgeNodeV2 = z.infer<typeof PoolPurgeNodeV2>;

export const PoolPurgeResponseV2 = z.object({
  pool_id: z.string(),
  purged: z.literal(true),
  /** Summed over the nodes. */
  bytes_freed: z.number().int(),
  duration_ms: z.number().int(),
  nodes: z.array(PoolPurgeNodeV2),
});
export type PoolPurgeResponseV2 = z.infer<typeof PoolPurgeResponseV2>;

/**
 * A refused or failed operation. `conflict` answers 409 (busy, or a reload that failed and was
 * rolled back); otherwise the code's usual status. `rolled_back` and `nodes` join the envelope.
 */
export interface PoolsFailure {
  ok: false;
  error: ErrorEnvelope;
  conflict?: boolean;
  rolled_back?: boolean;
  nodes?: unknown[];
}

export type PoolsOutcome<T> = { ok: true; value: T } | PoolsFailure;

export interface PoolsPort {
  /** NOT_FOUND when no node (online or not) holds the pool. */
  health(poolId: string, options?: { nodeId?: string }): Promise<PoolsOutcome<PoolHealthV2>>;
  /** Answers once every node has marked the pool draining; the drain itself goes on there. */
  drain(poolId: string, request: PoolDrainRequest): Promise<PoolsOutcome<PoolDrainResponseV2>>;
  /** Answers when the new engine is ready everywhere, or after the rollback. */
  reload(poolId: string, request: PoolReloadRequest): Promise<PoolsOutcome<PoolReloadResponseV2>>;
  /** Answers when the pool's engine is ready on every online node holding it, or why not. */
  preload(poolId: string, request: PoolPreloadRequest): Promise<PoolsOutcome<PoolPreloadResponseV2>>;
  /** Stops the pool's engine and removes its cached model files on every node holding it; refused (busy) while tasks run. */
  purge(poolId: string, request: PoolPurgeRequest): Promise<PoolsOutcome<PoolPurgeResponseV2>>;
}
