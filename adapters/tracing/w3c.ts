// Reading and writing W3C Trace Context headers (traceparent, tracestate) with OpenTelemetry's own
// parser. A malformed traceparent is ignored (the request starts a new trace), never an error; a
// tracestate keeps only its valid list members (at most 32, 512 characters), and only beside a
// valid traceparent. What comes out is always version 00, lowercase, as contract/trace.ts expects.

import { isSpanContextValid, type SpanContext } from "@opentelemetry/api";
import { parseTraceParent, TraceState } from "@opentelemetry/core";
import type { TraceCarrier } from "../../contract/trace.ts";

/** Longer headers are not parsed at all (a later version may append fields, never kilobytes). */
const MAX_TRACEPARENT_CHARS = 256;
/** A raw tracestate past this is not parsed: 32 members of the longest form fit well below it. */
const MAX_RAW_TRACESTATE_CHARS = 8192;

export const TRACEPARENT_HEADER = "traceparent";
export const TRACESTATE_HEADER = "tracestate";

/** A peer's headers as a carrier, or undefined when the traceparent is absent or malformed. */
export function readCarrier(traceparent: string | null | undefined, tracestate?: string | null): TraceCarrier | undefined {
  if (!traceparent || traceparent.length > MAX_TRACEPARENT_CHARS) return undefined;
  const parsed = parseTraceParent(traceparent);
  if (!parsed) return undefined;
  const carrier: TraceCarrier = { traceparent: formatTraceparent(parsed.traceId, parsed.spanId, parsed.traceFlags) };
  if (tracestate && tracestate.length <= MAX_RAW_TRACESTATE_CHARS) {
    const state = new TraceState(tracestate).serialize();
    if (state) carrier.tracestate = state;
  }
  return carrier;
}

export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, "0")}`;
}

/** The carrier of a span's context; undefined for the invalid context of a span that is not there. */
export function carrierOf(sc: SpanContext): TraceCarrier | undefined {
  if (!isSpanContextValid(sc)) return undefined;
  const carrier: TraceCarrier = { traceparent: formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags) };
  const state = sc.traceState?.serialize();
  if (state) carrier.tracestate = state;
  return carrier;
}

/** A carrier as the remote parent of spans started here. */
export function spanContextOf(carrier: TraceCarrier): SpanContext {
  const tp = carrier.traceparent;
  return {
    traceId: tp.slice(3, 35),
    spanId: tp.slice(36, 52),
    traceFlags: parseInt(tp.slice(53, 55), 16),
    isRemote: true,
    ...(carrier.tracestate ? { traceState: new TraceState(carrier.tracestate) } : {}),
  };
}

/** The headers to send a peer (an engine's HTTP server): none without a carrier. */
export function traceHeaders(carrier: TraceCarrier | undefined): Record<string, string> {
  if (!carrier) return {};
  return carrier.tracestate ? { [TRACEPARENT_HEADER]: carrier.traceparent, [TRACESTATE_HEADER]: carrier.tracestate } : { [TRACEPARENT_HEADER]: carrier.traceparent };
}
