// W3C Trace Context as it travels between our processes: a task's `traceparent` (and `tracestate`)
// from the client's request to the control plane's spans, over the node link with the dispatch, and
// on to the engine's HTTP request. Only version 00 is ever written; a peer's value is checked
// against this schema on arrival and dropped when it does not fit (never an error).

import { z } from "zod";

/** `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`, lowercase, ids not all zero. */
export const TRACEPARENT_RE = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
/** W3C: at most 32 list members, at most 512 characters, printable ASCII. */
export const MAX_TRACESTATE_CHARS = 512;
const TRACESTATE_RE = /^[\x20-\x7e]*$/;

export const TraceCarrier = z
  .object({
    traceparent: z.string().regex(TRACEPARENT_RE),
    tracestate: z.string().max(MAX_TRACESTATE_CHARS).regex(TRACESTATE_RE).optional(),
  })
  .strict();
export type TraceCarrier = z.infer<typeof TraceCarrier>;

/** The 32-hex trace id of a carrier (what log lines carry as `trace_id`). */
export function traceIdOf(carrier: TraceCarrier | undefined): string | undefined {
  return carrier?.traceparent.slice(3, 35);
}

/** A correlation id as the HTTP layer accepts one (X-Correlation-Id). */
export const CORRELATION_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * A dispatched request with its trace fields checked on arrival at the node: a trace context or
 * correlation id that does not fit is dropped (the task still runs, untraced), never an error.
 */
export function checkedTraceFields<T extends { trace?: unknown; correlation_id?: unknown }>(request: T): T {
  if (typeof request !== "object" || request === null) return request;
  const { trace, correlation_id } = request;
  if (trace === undefined && correlation_id === undefined) return request;
  const traceOk = trace === undefined || TraceCarrier.safeParse(trace).success;
  const idOk = correlation_id === undefined || (typeof correlation_id === "string" && CORRELATION_ID_RE.test(correlation_id));
  if (traceOk && idOk) return request;
  const { trace: _t, correlation_id: _c, ...rest } = request;
  return { ...rest, ...(traceOk && trace !== undefined ? { trace } : {}), ...(idOk && correlation_id !== undefined ? { correlation_id } : {}) } as T;
}
