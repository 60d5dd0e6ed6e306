// A task's trace on the control plane: the fields every log line about it carries (correlation_id,
// trace_id), and the `dispatch` span, from its assignment to a pool until the node's engine started
// the stream (or the task ended first). The span's context goes to the node with the dispatch, so
// the node's spans (engine.call, stream) are its children. One object per task, no closures.

import { traceIdOf, type TraceCarrier } from "../../../contract/trace.ts";
import type { StreamEvent, TaskSpec } from "../../../contract/index.ts";
import { SpanKind, startPhase, type PhaseSpan } from "../../../adapters/tracing/index.ts";
import type { AdmissionInfo } from "./protocol.ts";

export interface TaskTrace {
  readonly fields: { correlation_id: string; trace_id?: string };
  /** Opens the dispatch span; answers what the dispatch carries to the node. */
  dispatching(node_id: string, pool_id: string): { trace?: TraceCarrier; correlation_id: string };
  /** The engine started the stream. */
  started(at: { replica_id: string; engine: string; engine_version: string }): void;
  /** The task's last event: ends the dispatch span if the stream never started. */
  ended(last: StreamEvent): void;
}

class Trace implements TaskTrace {
  readonly fields: { correlation_id: string; trace_id?: string };
  private dispatch: PhaseSpan | undefined;

  constructor(
    private readonly spec: TaskSpec,
    private readonly admission: AdmissionInfo,
  ) {
    const traceId = traceIdOf(admission.trace);
    const correlation_id = admission.correlation_id;
    this.fields = traceId ? { correlation_id, trace_id: traceId } : { correlation_id };
  }

  dispatching(node_id: string, pool_id: string): { trace?: TraceCarrier; correlation_id: string } {
    const task_id = this.spec.task_id;
    const correlation_id = this.admission.correlation_id;
    const dispatch = startPhase("dispatch", this.admission.trace, { kind: SpanKind.PRODUCER, attributes: () => ({ "llorch.task_id": task_id, "llorch.node_id": node_id, "llorch.pool_id": pool_id }) });
    this.dispatch = dispatch;
    const carrier = dispatch.carrier;
    return carrier ? { trace: carrier, correlation_id } : { correlation_id };
  }

  started(at: { replica_id: string; engine: string; engine_version: string }): void {
    this.dispatch?.end({ "llorch.outcome": "started", "llorch.replica_id": at.replica_id, "llorch.engine": at.engine, "llorch.engine_version": at.engine_version });
  }

  ended(last: StreamEvent): void {
    if (last.type === "error") this.dispatch?.end({ "llorch.outcome": "failed" }, { code: last.data.code, message: last.data.message });
    else if (last.type === "end") this.dispatch?.end({ "llorch.outcome": last.data.canceled ? "canceled" : "ended" });
  }
}

export function taskTrace(spec: TaskSpec, admission: AdmissionInfo): TaskTrace {
  return new Trace(spec, admission);
}
