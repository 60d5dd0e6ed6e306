// A task's trace on the node: the fields of every log line about it (job_id, correlation_id,
// trace_id, as the dispatch brought them), the `engine.call` span (the engine request, from its
// start to its end, a child of the control plane's dispatch span), and the `stream` span under it
// (first token to end, with tokens_out and outcome). The engine is sent engine.call's context, so
// an engine that traces (vLLM, SGLang) joins the same trace. Nothing here runs per token: the one
// per-token cost is the replica's check of `awaitingFirstToken`.

import type { EngineEvent, EngineRequest } from "../../../adapters/engines/index.ts";
import { traceIdOf } from "../../../contract/trace.ts";
import { SpanKind, startPhase, type PhaseSpan } from "../../../adapters/tracing/index.ts";

export interface TaskFields {
  job_id: string;
  correlation_id?: string;
  trace_id?: string;
}

/** The log fields of a task, from its (checked) request. */
export function taskFields(task_id: string, request: EngineRequest): TaskFields {
  const fields: TaskFields = { job_id: task_id };
  if (request.correlation_id) fields.correlation_id = request.correlation_id;
  const traceId = traceIdOf(request.trace);
  if (traceId) fields.trace_id = traceId;
  return fields;
}

export interface StreamTrace {
  readonly fields: TaskFields;
  /** The request to send the engine: its trace context is engine.call's. */
  readonly request: EngineRequest;
  /** True until the first token: then `firstToken` opens the stream span. */
  awaitingFirstToken: boolean;
  firstToken(): void;
  /** The engine's end event. */
  end(ev: Extract<EngineEvent, { type: "end" }>): void;
  /** The request failed (or stopped without an end): ends whatever is open, once. */
  fail(code: string, message: string): void;
  /** Ends whatever is still open as `outcome` (a stream the engine left without an end event). */
  close(outcome: string): void;
}

export function streamTrace(task_id: string, request: EngineRequest, at: { node_id: string; pool_id: string; replica_id: string; engine: string }): StreamTrace {
  const where = () => ({ "llorch.task_id": task_id, "llorch.node_id": at.node_id, "llorch.pool_id": at.pool_id, "llorch.replica_id": at.replica_id, "llorch.engine": at.engine });
  const call = startPhase("engine.call", request.trace, { kind: SpanKind.CLIENT, attributes: where });
  let stream: PhaseSpan | undefined;
  const fields = taskFields(task_id, request);
  const carrier = call.carrier;
  const forEngine: EngineRequest = carrier === request.trace ? request : { ...request, trace: carrier };
  return {
    fields,
    request: forEngine,
    awaitingFirstToken: true,
    firstToken() {
      this.awaitingFirstToken = false;
      stream = startPhase("stream", call.carrier, { attributes: where });
    },
    end(ev) {
      const outcome = ev.stop_reason === "canceled" ? "canceled" : "completed";
      stream?.end({ "llorch.tokens_out": ev.tokens_out, "llorch.outcome": outcome, "llorch.stop_reason": ev.stop_reason });
      call.end({ "llorch.tokens_out": ev.tokens_out, "llorch.outcome": outcome, "llorch.decode_ms": ev.decode_ms, ...(ev.tokens_in !== undefined ? { "llorch.tokens_in": ev.tokens_in } : {}) });
    },
    fail(code, message) {
      stream?.end({ "llorch.outcome": "failed" }, { code, message });
      call.end({ "llorch.outcome": "failed" }, { code, message });
    },
    close(outcome) {
      stream?.end({ "llorch.outcome": outcome });
      call.end({ "llorch.outcome": outcome });
    },
  };
}
