// The error envelope every failure carries (HTTP bodies, SSE `error` events, WebSocket frames, the
// node link), its codes and their HTTP statuses. See docs/contract.md#error-codes.

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
  /** Reload failures: the old engine was restored. */
  rolled_back: z.boolean().optional(),
});
export type ErrorEnvelope = z.infer<typeof ErrorEnvelope>;

/** An error envelope, possibly with extra fields (e.g. `expected_digest`, `actual_digest`). */
export type PortError = ErrorEnvelope & Record<string, unknown>;

export type PortResult<T> = { ok: true; value: T } | { ok: false; error: PortError };
