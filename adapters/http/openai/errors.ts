// The native error envelope ({code, message, ...}) in OpenAI's shape ({error:{message, type,
// param, code}}), with the status and headers OpenAI clients act on. The official client reads
// the status to pick its error class, retries 408/409/429/5xx, and honours `retry-after-ms`,
// `Retry-After` and `x-should-retry`, so those carry our backoff.

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type ErrorCode, type ErrorEnvelope, HTTP_STATUS, retryAfterDefaultMs } from "../../../contract/index.ts";
import type { OpenAiError } from "./schemas.ts";

export interface OpenAiErrorReply {
  status: ContentfulStatusCode;
  body: OpenAiError;
  headers: Record<string, string>;
}

/** OpenAI's `code` where it has its own; every other native code goes out in lower case. */
const CODES: Partial<Record<ErrorCode, string>> = {
  ADMISSION_REJECT: "rate_limit_exceeded",
  QUEUE_FULL_DROP_LRU: "rate_limit_exceeded",
  MISSING_TOKEN: "missing_api_key",
  BAD_TOKEN: "invalid_api_key",
};

function typeFor(status: number): string {
  if (status === 429) return "rate_limit_error";
  return status >= 500 ? "server_error" : "invalid_request_error";
}

export function openAiError(status: ContentfulStatusCode, code: string | null, message: string, param: string | null = null): OpenAiErrorReply {
  return { status, body: { error: { message, type: typeFor(status), param, code } }, headers: {} };
}

/**
 * A native envelope as OpenAI's error. A 429 (and any error with a retry hint) carries
 * Retry-After (whole seconds, ≥ 1), X-Backoff-Ms (the contract's) and retry-after-ms (which the
 * openai client prefers).
 */
export function fromEnvelope(error: ErrorEnvelope, options: { status?: ContentfulStatusCode; param?: string | null } = {}): OpenAiErrorReply {
  const status = options.status ?? HTTP_STATUS[error.code];
  const reply = openAiError(status, CODES[error.code] ?? error.code.toLowerCase(), error.message, options.param ?? null);
  const retryMs = error.retry_after_ms ?? (status === 429 ? retryAfterDefaultMs() : undefined);
  if (retryMs !== undefined) {
    reply.headers["Retry-After"] = String(Math.max(1, Math.ceil(retryMs / 1000)));
    reply.headers["X-Backoff-Ms"] = String(retryMs);
    reply.headers["retry-after-ms"] = String(retryMs);
  }
  return reply;
}

/** No such model: OpenAI answers 404 `model_not_found`, which its client raises as NotFoundError. */
export function modelNotFound(model: string, why = "no online node serves it and the catalog does not list it"): OpenAiErrorReply {
  return openAiError(404, "model_not_found", `The model '${model}' does not exist: ${why}`, "model");
}

/**
 * A task canceled by someone else (POST /v2/tasks/{id}/cancel) before a non-streamed answer was
 * complete. OpenAI has no such state; a 500 that tells the client not to retry comes closest.
 */
export function canceledError(): OpenAiErrorReply {
  const reply = openAiError(500, "canceled", "the task was canceled before it finished");
  reply.headers["x-should-retry"] = "false";
  return reply;
}

export function respond(c: Context, reply: OpenAiErrorReply): Response {
  for (const [k, v] of Object.entries(reply.headers)) c.header(k, v);
  return c.json(reply.body, reply.status);
}

/** For middleware that answers /v1 requests (auth, body limit) with a native envelope in hand. */
export function openAiFail(c: Context, error: ErrorEnvelope, status?: ContentfulStatusCode): Response {
  return respond(c, fromEnvelope(error, { status }));
}

/** The request field a 400 names: its message starts `<field>: ` (schema issues, unsupported features). */
export function paramOf(error: { code: string; message: string }): string | null {
  if (error.code !== "INVALID_PARAMS") return null;
  return /^([a-z_]+): /.exec(error.message)?.[1] ?? null;
}
