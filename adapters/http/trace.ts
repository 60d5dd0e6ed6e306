// Trace context on the client routes. The control app's middleware reads `traceparent` and
// `tracestate` off every request (a malformed one is ignored: the request starts a new trace) and
// answers with the `traceparent` of the request's server span, or, where a route starts none or
// tracing is off, with the client's own (passed on unchanged). A submit, over POST /v2/tasks, /v1
// or /v2/ws, runs inside an `admission` span from the request's arrival to the admit outcome;
// its context is what the task's later spans, the node and the engine descend from.

import type { MiddlewareHandler } from "hono";
import type { AdmitOutcome, ControlPort, SubmitMeta, TaskRequestV2 } from "../../contract/index.ts";
import type { TraceCarrier } from "../../contract/trace.ts";
import { readCarrier, SpanKind, startPhase, tracingActive, TRACEPARENT_HEADER, TRACESTATE_HEADER } from "../tracing/index.ts";

export type TraceVars = {
  /** The client's trace context, when its traceparent was valid. */
  trace?: TraceCarrier;
  /** When the request arrived (epoch ms; only while tracing is on): the admission span starts there. */
  traceStart?: number;
  /** The server span's context, set by a route that started one. */
  traceResponse?: TraceCarrier;
};

type Env = { Variables: TraceVars };

export function traceContext(): MiddlewareHandler<Env> {
  return async (c, next) => {
    const traceparent = c.req.header(TRACEPARENT_HEADER);
    const incoming = traceparent ? readCarrier(traceparent, c.req.header(TRACESTATE_HEADER)) : undefined;
    if (incoming) c.set("trace", incoming);
    // Span timestamps are wall-clock time by OpenTelemetry's definition; read only when spans are recorded.
    if (tracingActive()) c.set("traceStart", Date.now());
    await next();
    const answer = c.get("traceResponse") ?? incoming;
    if (answer) c.res.headers.set(TRACEPARENT_HEADER, answer.traceparent);
  };
}

export interface AdmissionAt {
  /** `POST /v2/tasks`, `POST /v1/chat/completions`, `WS /v2/ws`. */
  route: string;
  parent?: TraceCarrier;
  startTime?: number;
}

/**
 * port.submit inside an `admission` span; the span's context rides on to the scheduler (placement)
 * and the task (dispatch). Answers the outcome and the context to return to the client.
 */
export async function tracedSubmit(port: ControlPort, request: TaskRequestV2, meta: SubmitMeta, at: AdmissionAt): Promise<{ outcome: AdmitOutcome; trace?: TraceCarrier }> {
  const span = startPhase("admission", at.parent, {
    kind: SpanKind.SERVER,
    startTime: at.startTime,
    attributes: () => ({
      "http.route": at.route,
      "llorch.correlation_id": meta.correlationId,
      "gen_ai.request.model": request.model_ref,
      "llorch.priority": request.priority,
      ...(request.task_id ? { "llorch.task_id": request.task_id } : {}),
    }),
  });
  let outcome: AdmitOutcome;
  try {
    outcome = await port.submit(request, span.carrier ? { ...meta, trace: span.carrier } : meta);
  } catch (error) {
    span.end({ "llorch.outcome": "failed" }, { code: "INTERNAL", message: (error as Error).message });
    throw error;
  }
  if (outcome.ok) {
    const a = outcome.admission;
    span.end({ "llorch.outcome": "accepted", "llorch.task_id": a.task_id, "llorch.queue_position": a.queue_position, "llorch.predicted_start_ms": a.predicted_start_ms });
  } else {
    span.end({ "llorch.outcome": "rejected" }, { code: outcome.error.code, message: outcome.error.message });
  }
  return { outcome, trace: span.carrier };
}
