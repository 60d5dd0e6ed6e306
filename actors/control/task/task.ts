// One actor per job: queued → assigned → streaming → ended. Fans events out to subscribers in
// order, replays what a late subscriber missed, and guarantees that nothing but the final `end`
// follows an acknowledged cancel.

import type { ActorFactory, Logger } from "../../../runtime/index.ts";
import type { StreamSink } from "../../../adapters/http/port.ts";
import type { ErrorEnvelope, StreamEvent, TaskSpec } from "../../../adapters/http/schemas.ts";
import type { ControlMetrics } from "../../../adapters/metrics/index.ts";
import type { AgentRef, TaskEngineMsg } from "../../link/protocol.ts";
import type { SchedulerRef } from "../scheduler/protocol.ts";
import type { AdmissionInfo, TaskMsg } from "./protocol.ts";

export interface TaskOptions {
  scheduler: SchedulerRef;
  log: Logger;
  metrics: ControlMetrics;
  /** How long an ended task stays around for late subscribers. */
  retentionMs: number;
}

type Phase = "queued" | "assigned" | "streaming" | "ended";

export function taskActor(options: TaskOptions, spec: TaskSpec, admission: AdmissionInfo): ActorFactory<TaskMsg> {
  return (ctx) => {
    const { log, metrics, scheduler } = options;
    const events: StreamEvent[] = [];
    const subscribers = new Set<StreamSink>();
    const admittedAt = ctx.clock.now();
    let phase: Phase = "queued";
    let placement: { node_id: string; pool_id: string; agent: AgentRef } | undefined;
    let labels = { engine: spec.engine ?? "", engine_version: "", pool_id: "", replica_id: "" };
    let tokens = 0;
    let startedAt: number | undefined;
    let firstTokenSeen = false;
    let tokenCounter: { inc(): void } | undefined;
    const logFields = () => ({ job_id: spec.task_id, session_id: spec.session_id, correlation_id: admission.correlation_id, ...labels });

    const emit = (event: StreamEvent) => {
      events.push(event);
      for (const sink of subscribers) sink.push(event);
    };

    const decodeMs = () => (startedAt === undefined ? 0 : Math.max(0, ctx.clock.now() - startedAt));

    const finish = (event: StreamEvent) => {
      if (phase === "ended") return;
      phase = "ended";
      emit(event);
      subscribers.clear();
      const decode = decodeMs();
      scheduler.tell({ type: "task-ended", task_id: spec.task_id, decode_ms: decode, tokens_out: tokens });
      if (event.type === "end" && !event.data.canceled && startedAt !== undefined) {
        metrics.decode.observe({ engine: labels.engine, engine_version: labels.engine_version, pool_id: labels.pool_id, priority: spec.priority }, decode);
      }
      ctx.after(options.retentionMs, { type: "expire" });
    };

    const fail = (error: ErrorEnvelope) => {
      if (phase === "ended") return;
      log.warn(`Task failed: ${error.message}`, { ...logFields(), error_kind: error.code, tokens_out: tokens });
      finish({ type: "error", data: error });
    };

    /** Ends the task as canceled; after this nothing but the final `end` has been emitted. */
    const cancel = (reason: "client" | "disconnect") => {
      if (phase === "ended") return;
      if (placement && phase !== "queued") placement.agent.tell({ type: "cancel", task_id: spec.task_id, pool_id: placement.pool_id });
      metrics.tasksCanceled.inc({ ...labels, reason });
      log.info("Task canceled", { ...logFields(), canceled: true, reason, tokens_out: tokens });
      const decode = decodeMs();
      finish({ type: "end", data: { tokens_out: tokens, decode_time_ms: decode, decode_ms: decode, canceled: true } });
    };

    const onEngine = (msg: TaskEngineMsg) => {
      if (phase === "ended" || phase === "queued") return; // late frames after cancel/failure
      switch (msg.type) {
        case "engine-started":
          if (phase === "streaming") return;
          phase = "streaming";
          startedAt = ctx.clock.now();
          labels = { engine: msg.engine, engine_version: msg.engine_version, pool_id: msg.pool_id, replica_id: msg.replica_id };
          tokenCounter = metrics.tokensOut.labels(labels);
          metrics.tasksStarted.inc({ ...labels, priority: spec.priority });
          log.info("Stream started", { ...logFields(), node_id: msg.node_id, queue_position: admission.queue_position, tokens_in: msg.tokens_in });
          emit({
            type: "started",
            data: {
              queue_position: admission.queue_position,
              predicted_start_ms: admission.predicted_start_ms,
              engine: msg.engine,
              engine_version: msg.engine_version,
              pool_id: msg.pool_id,
              replica_id: msg.replica_id,
              node_id: msg.node_id,
            },
          });
          return;
        case "engine-token":
          if (phase !== "streaming") return;
          if (!firstTokenSeen) {
            firstTokenSeen = true;
            metrics.firstToken.observe({ engine: labels.engine, engine_version: labels.engine_version, pool_id: labels.pool_id, priority: spec.priority }, ctx.clock.now() - admittedAt);
          }
          tokens++;
          tokenCounter?.inc();
          emit({ type: "token", data: { t: msg.t, i: msg.i } });
          return;
        case "engine-end": {
          const decode = decodeMs();
          log.info(`Stream ended after ${tokens} tokens`, { ...logFields(), tokens_out: tokens, decode_time_ms: decode });
          finish({ type: "end", data: { tokens_out: tokens, decode_time_ms: decode, decode_ms: decode } });
          return;
        }
        case "engine-error":
          fail(msg.error);
          return;
      }
    };

    return {
      receive(msg) {
        switch (msg.type) {
          case "subscribe":
            for (const e of events) msg.sink.push(e);
            if (phase !== "ended") subscribers.add(msg.sink);
            return true;
          case "unsubscribe": {
            const removed = subscribers.delete(msg.sink);
            if (removed && msg.cancel_if_last && subscribers.size === 0) cancel("disconnect");
            return removed;
          }
          case "cancel":
            cancel(msg.reason);
            return "canceled";
          case "assigned": {
            if (phase !== "queued") return;
            phase = "assigned";
            placement = { node_id: msg.node_id, pool_id: msg.pool_id, agent: msg.agent };
            const sent = msg.agent.tell({
              type: "dispatch",
              task_id: spec.task_id,
              pool_id: msg.pool_id,
              request: {
                task_id: spec.task_id,
                prompt: spec.prompt,
                max_tokens: spec.max_tokens,
                seed: spec.seed,
                temperature: spec.temperature,
                top_p: spec.top_p,
                stop: spec.stop,
              },
              sink: ctx.self,
            });
            if (!sent.ok) {
              fail({ code: "WORKER_RESET", message: `node ${msg.node_id} is unreachable`, retriable: true, retry_after_ms: 1000, pool_id: msg.pool_id });
            }
            return;
          }
          case "fail":
            fail(msg.error);
            return;
          case "expire":
            ctx.stopSelf();
            return;
          default:
            onEngine(msg);
            return;
        }
      },
      terminate(reason) {
        if (phase !== "ended" && reason.kind === "failed") {
          fail({ code: "INTERNAL", message: "task actor failed" });
        } else if (phase !== "ended") {
          fail({ code: "INTERNAL", message: "control plane is shutting down", retriable: true, retry_after_ms: 1000 });
        }
      },
    };
  };
}
