// The contract's error envelope on every error response, with the 429 headers it requires.

import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type ErrorCode, type ErrorEnvelope, HTTP_STATUS, retryAfterDefaultMs } from "../../contract/index.ts";

/** `status` overrides the code's usual status (413 for a too-large body, 409 for a rolled-back reload). */
export function errorResponse(c: Context, error: ErrorEnvelope, status: ContentfulStatusCode = HTTP_STATUS[error.code]): Response {
  if (status === 429) {
    const retryMs = error.retry_after_ms ?? retryAfterDefaultMs();
    c.header("Retry-After", String(Math.max(1, Math.floor(retryMs / 1000))));
    c.header("X-Backoff-Ms", String(retryMs));
    error = { ...error, retriable: error.retriable ?? true, retry_after_ms: retryMs, policy_label: error.policy_label ?? "reject" };
  }
  return c.json(error, status);
}

export function fail(c: Context, code: ErrorCode, message: string, extra: Partial<ErrorEnvelope> = {}, status?: ContentfulStatusCode): Response {
  return errorResponse(c, { code, message, ...extra }, status);
}
