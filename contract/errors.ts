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

// ---------------------------------------------------------------------------------------------
// Constructors: every envelope the system builds comes from here, so a code always carries the
// same retry hint. Retriable errors carry `retry_after_ms`; its default is one setting per process
// (ORCHD_RETRY_AFTER_MS on the control plane, the node's own config), set once at start.

/** What a caller adds to an envelope: the pool or engine it concerns, a policy label, a retry hint. */
export type ErrorFields = Partial<Omit<ErrorEnvelope, "code" | "message">>;

/** The retry hint of retriable errors when none is given: 1 s unless configured. */
export const DEFAULT_RETRY_AFTER_MS = 1000;
let retryAfterDefault = DEFAULT_RETRY_AFTER_MS;

/** Sets the process's default retry hint (ms, at least 1). Returns the value now in force. */
export function setRetryAfterDefault(ms: number): number {
  if (Number.isInteger(ms) && ms >= 1) retryAfterDefault = ms;
  return retryAfterDefault;
}

export function retryAfterDefaultMs(): number {
  return retryAfterDefault;
}

/** A final error: retrying the same request will not help. */
export function apiError(code: ErrorCode, message: string, fields: ErrorFields = {}): ErrorEnvelope {
  return { code, message, ...fields };
}

/** An error worth retrying later: `retriable: true` and the default retry hint unless `fields` say otherwise. */
export function retriableError(code: ErrorCode, message: string, fields: ErrorFields = {}): ErrorEnvelope {
  return { code, message, retriable: true, retry_after_ms: retryAfterDefault, ...fields };
}

/** No pool can take the task (not on this node, not ready, busy with an operation). */
export const poolUnavailable = (message: string, fields?: ErrorFields) => retriableError("POOL_UNAVAILABLE", message, fields);
/** The pool exists but its engine is not ready (failed preload, failed rollback). */
export const poolUnready = (message: string, fields?: ErrorFields) => retriableError("POOL_UNREADY", message, fields);
/** The engine or the node under a running task went away. */
export const workerReset = (message: string, fields?: ErrorFields) => retriableError("WORKER_RESET", message, fields);
/** Decoding ran past the task's wall or idle timeout. */
export const decodeTimeout = (message: string, fields?: ErrorFields) => retriableError("DECODE_TIMEOUT", message, fields);
/** A node that should answer (pools control) is offline or did not answer. */
export const nodeUnavailable = (message: string, fields?: ErrorFields) => retriableError("NODE_UNAVAILABLE", message, fields);
/** A model is known but no pool serves it yet. */
export const modelNotAvailable = (message: string, fields?: ErrorFields) => retriableError("MODEL_NOT_AVAILABLE", message, fields);
/** Something of ours failed; `retriable` when the request itself was fine (e.g. a shutdown). */
export const internalError = (message: string, fields?: ErrorFields) => apiError("INTERNAL", message, fields);
/** The request breaks a rule of the contract. Never retriable as is. */
export const invalidParams = (message: string, fields?: ErrorFields) => apiError("INVALID_PARAMS", message, fields);
export const notFound = (message: string, fields?: ErrorFields) => apiError("NOT_FOUND", message, fields);

