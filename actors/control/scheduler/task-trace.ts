// What the scheduler keeps of a queued task's trace: its correlation id and trace id for the log
// lines it writes about the task ("Placed task ...", drops), and the `placement` span, from the
// task's admission into the queue to its assignment to a pool (or its leaving the queue), with
// the line that says where it was placed.

import { traceIdOf, type TraceCarrier } from "../../../contract/trace.ts";
import type { TaskSpec } from "../../../contract/index.ts";
import { startPhase, type PhaseSpan } from "../../../adapters/tracing/index.ts";
import type { Logger } from "../../../runtime/index.ts";
import type { Placement } from "./placement.ts";

export interface QueuedTrace {
  /** correlation_id and trace_id, for every log line about the task. */
  fields: { correlation_id: string; trace_id?: string };
  placement: PhaseSpan;
}

/** Opens the placement span under the admission span (`trace`). */
export function queuedTrace(spec: TaskSpec, correlationId: string, trace: TraceCarrier | undefined): QueuedTrace {
  const traceId = traceIdOf(trace);
  return {
    fields: traceId ? { correlation_id: correlationId, trace_id: traceId } : { correlation_id: correlationId },
    placement: startPhase("placement", trace, { attributes: () => ({ "llorch.task_id": spec.task_id, "gen_ai.request.model": spec.model_ref, "llorch.priority": spec.priority }) }),
  };
}

/** The task got a pool: its placement span ends, and the "Placed task" line says where, why, and after how long. */
export function placed(log: Logger, task_id: string, t: QueuedTrace, decision: Extract<Placement, { ok: true }>, queueMs: number): void {
  t.placement.end({ "llorch.node_id": decision.node_id, "llorch.pool_id": decision.pool_id, "llorch.queue_time_ms": queueMs, "llorch.candidates": decision.log.candidates_considered });
  // Per task at debug: at thousands of tasks per second one info line per task (its outcome) is what logs can carry.
  log.debug(`Placed task on pool ${decision.pool_id} of node ${decision.node_id}`, {
    job_id: task_id,
    ...t.fields,
    node_id: decision.node_id,
    pool_id: decision.pool_id,
    pinned: decision.log.pinned,
    fallback_used: decision.log.fallback_used,
    candidates_considered: decision.log.candidates_considered,
    decision_reason: decision.log.tie_breakers_applied?.join(",") ?? "",
    queue_time_ms: queueMs,
  });
}
