// Wire schemas of the native API (/v2). The single source for validation and for the OpenAPI
// document. Names follow the upstream contract exactly.

import { z } from "zod";

export const ErrorCode = z.enum([
  "INVALID_PARAMS",
  "DEADLINE_UNMET",
  "UNTRUSTED_ARTIFACT",
  "MISSING_TOKEN",
  "BAD_TOKEN",
  "NOT_FOUND",
  "ADMISSION_REJECT",
  "QUEUE_FULL_DROP_LRU",
  "POOL_UNREADY",
  "POOL_UNAVAILABLE",
  "REPLICA_EXHAUSTED",
  "MODEL_NOT_AVAILABLE",
  "NODE_UNAVAILABLE",
  "DECODE_TIMEOUT",
  "WORKER_RESET",
  "INTERNAL",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const HTTP_STATUS: Record<ErrorCode, 400 | 401 | 404 | 429 | 500 | 503> = {
  INVALID_PARAMS: 400,
  DEADLINE_UNMET: 400,
  UNTRUSTED_ARTIFACT: 400,
  MISSING_TOKEN: 401,
  BAD_TOKEN: 401,
  NOT_FOUND: 404,
  ADMISSION_REJECT: 429,
  QUEUE_FULL_DROP_LRU: 429,
  POOL_UNREADY: 503,
  POOL_UNAVAILABLE: 503,
  REPLICA_EXHAUSTED: 503,
  MODEL_NOT_AVAILABLE: 503,
  NODE_UNAVAILABLE: 503,
  DECODE_TIMEOUT: 500,
  WORKER_RESET: 500,
  INTERNAL: 500,
};

export const ErrorEnvelope = z.object({
  code: ErrorCode,
  message: z.string(),
  retriable: z.boolean().optional(),
  retry_after_ms: z.number().int().optional(),
  policy_label: z.string().optional(),
  engine: z.string().optional(),
  pool_id: z.string().optional(),
});
export type ErrorEnvelope = z.infer<typeof ErrorEnvelope>;

export const Priority = z.enum(["interactive", "batch"]);
export type Priority = z.infer<typeof Priority>;

export const TaskRequestV2 = z
  .object({
    task_id: z.string().min(1).max(128).optional(),
    session_id: z.string().min(1).max(128).optional(),
    workload: z.enum(["completion", "embedding", "rerank"]).default("completion"),
    model_ref: z.string().min(1).max(1024),
    engine: z.enum(["llamacpp", "vllm", "tgi", "triton", "openai", "mock"]).optional(),
    ctx: z.number().int().min(0).default(0),
    priority: Priority.default("interactive"),
    seed: z.number().int().optional(),
    determinism: z.enum(["strict", "best_effort"]).optional(),
    sampler_profile_version: z.string().optional(),
    prompt: z.string().max(1_000_000).default(""),
    inputs: z.array(z.string()).optional(),
    max_tokens: z.number().int().min(1).max(50_000),
    deadline_ms: z.number().int().optional(),
    expected_tokens: z.number().int().min(0).optional(),
    kv_hint: z.enum(["reuse", "cold"]).optional(),
    temperature: z.number().min(0).max(10).optional(),
    top_p: z.number().min(0).max(1).optional(),
    stop: z.array(z.string()).max(16).optional(),
  })
  .strict();
export type TaskRequestV2 = z.infer<typeof TaskRequestV2>;

/** A request after admission defaults: ids are always present. */
export type TaskSpec = TaskRequestV2 & { task_id: string };

export const AdmissionResponseV2 = z.object({
  task_id: z.string(),
  queue_position: z.number().int(),
  predicted_start_ms: z.number().int(),
  backoff_ms: z.number().int(),
  streams: z.object({ sse: z.string(), sse_verbose: z.string() }).optional(),
});
export type AdmissionResponseV2 = z.infer<typeof AdmissionResponseV2>;

export const StartedData = z.object({
  queue_position: z.number().int(),
  predicted_start_ms: z.number().int(),
  engine: z.string().optional(),
  engine_version: z.string().optional(),
  pool_id: z.string().optional(),
  replica_id: z.string().optional(),
  node_id: z.string().optional(),
});
export const TokenData = z.object({ t: z.string(), i: z.number().int() });
export const EndData = z.object({
  tokens_out: z.number().int(),
  decode_time_ms: z.number().int(),
  decode_ms: z.number().int(),
  canceled: z.boolean().optional(),
});
export const MetricsData = z.record(z.string(), z.unknown());

export type StreamEvent =
  | { type: "started"; data: z.infer<typeof StartedData> }
  | { type: "token"; data: z.infer<typeof TokenData> }
  | { type: "metrics"; data: z.infer<typeof MetricsData> }
  | { type: "end"; data: z.infer<typeof EndData> }
  | { type: "error"; data: ErrorEnvelope };

export const PoolView = z.object({
  pool_id: z.string(),
  ready: z.boolean(),
  draining: z.boolean(),
  engine: z.string(),
  engine_version: z.string().optional(),
  slots_total: z.number().int(),
  slots_free: z.number().int(),
  vram_free_bytes: z.number().int().optional(),
  models_available: z.array(z.string()),
  last_error: z.string().optional(),
});
export type PoolView = z.infer<typeof PoolView>;

export const NodeStatus = z.enum(["Registering", "Online", "Draining", "Offline", "Failed"]);
export type NodeStatus = z.infer<typeof NodeStatus>;

export const NodeInfo = z.object({
  node_id: z.string(),
  address: z.string().optional(),
  version: z.string().optional(),
  status: NodeStatus,
  registered_at_ms: z.number().int(),
  last_heartbeat_ms: z.number().int(),
  pools: z.array(PoolView),
});
export type NodeInfo = z.infer<typeof NodeInfo>;
