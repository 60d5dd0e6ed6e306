// Shared pieces of the control plane's operation specs: the operation type (OperationSpec plus
// the two things buildOpenApi cannot say yet), the error responses many routes share, the
// budget headers, and the size-limit responses that control-app.ts's middleware adds to routes.

import { z } from "zod";
import type { OperationSpec, ResponseSpec } from "./generator.ts";
import { DEFAULT_MAX_BODY_BYTES, MAX_HEADER_BYTES } from "../control-app.ts";
import { BUDGET_HEADER, ErrorEnvelope } from "../../../contract/index.ts";

/** A request header parameter, written into the document as given (a plain JSON schema). */
export interface HeaderParam {
  description: string;
  schema: { type: "string"; enum?: string[] };
}

export interface ControlOperation extends OperationSpec {
  /** Optional request headers the route reads (OperationSpec has no header parameters). */
  requestHeaders?: Record<string, HeaderParam>;
  /** The token may come after the upgrade (/v2/ws): security lists bearerAuth or nothing. */
  authAfterUpgrade?: boolean;
}

export type Responses = Record<number, ResponseSpec>;

/** A 429 body always has the retry fields (docs/contract.md#error-codes); Retry-After/X-Backoff-Ms are added by the generator. */
export const RetryableError = z
  .intersection(ErrorEnvelope, z.object({ retriable: z.boolean(), retry_after_ms: z.number().int().min(0), policy_label: z.string() }))
  .describe("ErrorEnvelope whose retriable, retry_after_ms and policy_label are always present");

/** Thrown anywhere in a route: control-app's onError answers this, so every route that awaits the control plane can. */
export const INTERNAL: Responses = { 500: { description: "INTERNAL: an unexpected failure (logged with the correlation id)" } };

export const BAD_JSON_BODY =
  "INVALID_PARAMS: Content-Type is not application/json, the body is not JSON, or a field is missing, wrong or unknown (the message names it)";

const BudgetCount = z.string().regex(/^\d+$/);
export const BUDGET_HEADERS: ResponseSpec["headers"] = {
  [BUDGET_HEADER.tokens]: { description: "Tokens left in the session's budget (defaults when the task names no session)", schema: BudgetCount },
  [BUDGET_HEADER.time]: { description: "Milliseconds left in the session's time budget", schema: BudgetCount },
  [BUDGET_HEADER.cost]: { description: "Cost left in the session's budget: a decimal with up to 6 places, never exponent notation", schema: z.string() },
};

/**
 * The responses control-app.ts's middleware gives before any route runs: 431 for an oversized
 * header (every path), 413 for an oversized body (any /v2 request that carries one; listed where
 * a body belongs: POST, PUT, PATCH). Call it lazily, never at module load: control-app.ts imports
 * the operations, so its constants are not initialised while this module graph loads.
 */
export function withSizeLimits(op: ControlOperation): ControlOperation {
  const responses: Responses = {
    ...op.responses,
    431: {
      description: `INVALID_PARAMS: a request header is longer than ${MAX_HEADER_BYTES} bytes. Above 16 KiB of headers in all, Bun itself answers 431 with an empty body.`,
    },
  };
  if (op.path.startsWith("/v2/") && ["post", "put", "patch"].includes(op.method)) {
    responses[413] = { description: `INVALID_PARAMS: the body is larger than the configured limit (default ${DEFAULT_MAX_BODY_BYTES} bytes)` };
  }
  return { ...op, responses };
}
