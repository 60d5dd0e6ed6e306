// One actor per job: queued → assigned → streaming → ended. Fans events out to subscribers in
// order, replays what a late subscriber missed (a window from memory, the rest from the state
// store, see stream-log.ts), emits `metrics` frames while streaming, enforces the deadline and
// the watchdog (wall/idle), and guarantees that nothing but the final `end` follows an
// acknowledged cancel. At its end it spends the session's budget and has its transcript
// assembled from the stored stream; the last event goes out once that transcript is committed.

import type { ActorContext, ActorFactory, Behavior, Logger } from "../../../runtime/index.ts";
import { apiError, type Budgets, decodeTimeout, type ErrorEnvelope, internalError, retriableError, type StreamEvent, type TaskSpec, type TokenLogprob, workerReset } from "../../../contract/index.ts";
import type { ControlMetrics } from "../../../adapters/metrics/index.ts";
import type { AgentRef, TaskEngineMsg } from "../../../contract/link.ts";
import { onTimeProbability } from "../scheduler/admission.ts";
import type { SchedulerRef } from "../scheduler/protocol.ts";
import type { AdmissionInfo, TaskHooks, TaskMsg, TaskTimeouts } from "./protocol.ts";
import { endedTask, switchable, taskStream } from "./ended.ts";
import { engineRequest } from "./engine-request.ts";
import { taskTrace } from "./trace.ts";

export interface TaskOptions {
  scheduler: SchedulerRef;
  log: Logger;
  metrics: ControlMetrics;
  hooks: TaskHooks;
  /** How long an ended task stays around for late subscribers. */
  retentionMs: number;
  timeouts?: TaskTimeouts;
  /** Cadence of `metrics` frames while streaming (0 = off). */
  metricsIntervalMs?: number;
  /** Recent events kept in memory for late subscribers, and events per stored chunk. */
  stream?: { window?: number; chunkEvents?: number };
}

type Phase = "queued" | "assigned" | "streaming" | "ended";

/** Tokens counted at once into tokens_out_total (and at every metrics tick and at the end). */
const TOKEN_COUNT_BATCH = 64;
/** Tokens per inter-token latency observation: one mean gap per batch of at least this many. */
const INTER_TOKEN_SAMPLE = 8;

export function taskActor(options: TaskOptions, spec: TaskSpec, admission: AdmissionInfo): ActorFactory<TaskMsg> {
  // Once released, the task hands over to a small behavior and its live state can go (ended.ts).
  return (ctx) => switchable<TaskMsg>((become) => live(ctx, become));

  function live(ctx: ActorContext<TaskMsg>, become: (next: Behavior<TaskMsg>) => void): Behavior<TaskMsg> {
    const { log, metrics, scheduler, hooks } = options;
    const timeouts = options.timeouts ?? {};
    const metricsEvery = options.metricsIntervalMs ?? 1000;
    const stream = taskStream(spec.task_id, hooks.stream, log, options.stream);
    const admittedAt = ctx.clock.now();
    let phase: Phase = "queued";
    let placement: { node_id: string; pool_id: string; agent: AgentRef } | undefined;
    let labels = { engine: spec.engine ?? "", engine_version: "", pool_id: "", replica_id: "", node_id: "" };
    let tokens = 0;
    let startedAt: number | undefined;
    let assignedAt: number | undefined;
    let tokensIn: number | undefined;
    let firstTokenMs: number | undefined;
    let lastActivity = admittedAt;
    let budgets: Budgets = admission.budgets;
    let kvWarmth = false;
    let tokenCounter: { inc(n: number): void } | undefined;
    let interToken: { observe(ms: number): void } | undefined;
    /** Inter-token latency: when the window began (the previous observed delivery) and its tokens. */
    let gapSince: number | undefined;
    let gapTokens = 0;
    // tokens_out_total is updated in batches, not per token (docs/contract.md#metrics).
    let uncounted = 0;
    const countTokens = () => {
      if (uncounted > 0) tokenCounter?.inc(uncounted);
      uncounted = 0;
    };
    /** The last event is held while its transcript is being stored. */
    let holding = false;
    const tracing = taskTrace(spec, admission);
    const logFields = () => ({ job_id: spec.task_id, session_id: spec.session_id, ...tracing.fields, ...labels });
    const latencyLabels = () => ({ engine: labels.engine, engine_version: labels.engine_version, pool_id: labels.pool_id, node_id: labels.node_id, model: spec.model_ref, priority: spec.priority });
    /** After a delivery of `n` tokens: the mean gap per token since the window began, once it holds enough. */
    const tokensDelivered = (n: number) => {
      if (gapSince === undefined) {
        gapSince = lastActivity; // the first delivery only opens the window
        return;
      }
      gapTokens += n;
      if (gapTokens < INTER_TOKEN_SAMPLE) return;
      interToken?.observe((lastActivity - gapSince) / gapTokens);
      gapSince = lastActivity;
      gapTokens = 0;
    };

    const emit = (event: StreamEvent) => stream.emit(event);

    const decodeMs = () => (startedAt === undefined ? 0 : Math.max(0, ctx.clock.now() - startedAt));

    /** Sends the held last event, lets subscribers go, and keeps the ended task around for a while. */
    const close = (stopping = false) => {
      if (!holding) return;
      holding = false;
      stream.release();
      if (stopping) return;
      ctx.after(options.retentionMs, { type: "expire" });
      become(endedTask(ctx, spec.task_id, stream, budgets, hooks.stream));
    };

    /**
     * Ends the task. The transcript is committed before the last event goes out, so a client that
     * saw `end` can fetch it; `immediate` (shutdown) does not wait for the store.
     */
    const finish = (event: StreamEvent, immediate = false) => {
      if (phase === "ended") return;
      const wasQueued = phase === "queued";
      phase = "ended";
      hooks.ticker.remove(ctx.self);
      holding = true;
      countTokens();
      const decode = decodeMs();
      scheduler.tell({ type: "task-ended", task_id: spec.task_id, decode_ms: decode, tokens_out: tokens, first_token_ms: firstTokenMs });
      if (event.type === "end" && !event.data.canceled && startedAt !== undefined) {
        metrics.decode.observe(latencyLabels(), decode);
        metrics.endToEnd.observe(latencyLabels(), ctx.clock.now() - admittedAt);
      }
      if (spec.session_id) hooks.spend(spec.session_id, spec.task_id, tokens, decode);
      const queueMs = (startedAt ?? (wasQueued ? ctx.clock.now() : admittedAt)) - admittedAt;
      tracing.ended(event);
      const last = stream.hold(event);
      const stored = hooks.stream.finish(spec.task_id, last, { spec, last: event, tokens, decodeMs: decode, queueMs, labels, nodeId: labels.node_id });
      if (immediate) close(true);
      else ctx.pipeToSelf(stored, (o) => ({ type: "closed", last: o.ok && o.value ? last : undefined }));
    };

    const fail = (error: ErrorEnvelope, immediate = false) => {
      if (phase === "ended") return;
      log.warn(`Task failed: ${error.message}`, { ...logFields(), error_kind: error.code, tokens_out: tokens });
      finish({ type: "error", data: error }, immediate);
    };

    const stopEngine = () => {
      if (placement && phase !== "queued") placement.agent.tell({ type: "cancel", task_id: spec.task_id, pool_id: placement.pool_id });
    };

    /** Ends the task as canceled; after this nothing but the final `end` has been emitted. */
    const cancel = (reason: "client" | "disconnect") => {
      if (phase === "ended") return;
      stopEngine();
      metrics.tasksCanceled.inc({ ...labels, reason });
      log.info("Task canceled", { ...logFields(), canceled: true, reason, tokens_out: tokens });
      const decode = decodeMs();
      finish({ type: "end", data: { tokens_out: tokens, decode_time_ms: decode, decode_ms: decode, canceled: true, stop_reason: "canceled" } });
    };

    /** The watchdog or the deadline ends a task: the engine stops, the client gets an error. */
    const timeOut = (reason: "watchdog" | "deadline", error: ErrorEnvelope) => {
      if (phase === "ended") return;
      stopEngine();
      metrics.tasksCanceled.inc({ ...labels, reason });
      fail(error);
    };

    /** A frame with a session's budgets waits for them; the queue depth came with the tick. */
    const requestBudgets = (queueDepth: number) => {
      ctx.pipeToSelf(hooks.budgets(spec.session_id), (o) => ({ type: "metrics-snapshot", queue_depth: queueDepth, budgets: o.ok ? o.value : undefined }));
    };

    const requestMetrics = () => {
      ctx.pipeToSelf(
        Promise.all([hooks.queueDepth(), hooks.budgets(spec.session_id)]),
        (o) => (o.ok ? { type: "metrics-snapshot", queue_depth: o.value[0], budgets: o.value[1] } : { type: "metrics-snapshot", queue_depth: 0 }),
      );
    };

    const metricsFrame = (queueDepth: number): StreamEvent => {
      const elapsed = decodeMs();
      const rate = tokens > 0 && elapsed > 0 ? tokens / elapsed : undefined;
      const needed = rate ? (spec.max_tokens - tokens) / rate : undefined;
      const slack = spec.deadline_ms === undefined ? undefined : admittedAt + spec.deadline_ms - ctx.clock.now();
      return {
        type: "metrics",
        data: {
          queue_depth: queueDepth,
          on_time_probability: needed === undefined ? (slack === undefined || slack > 0 ? 1 : 0) : onTimeProbability(slack, needed),
          kv_warmth: kvWarmth,
          tokens_budget_remaining: Math.max(0, budgets.tokens_remaining),
          time_budget_remaining_ms: Math.max(0, budgets.time_remaining_ms),
          cost_budget_remaining: Math.max(0, budgets.cost_remaining),
          tokens_out: tokens,
          human: `Streaming on pool ${labels.pool_id} of node ${labels.node_id}: ${tokens} of at most ${spec.max_tokens} tokens so far`,
        },
      };
    };

    const onStarted = (msg: Extract<TaskEngineMsg, { type: "engine-started" }>) => {
      phase = "streaming";
      startedAt = ctx.clock.now();
      metrics.tasksDispatched.inc({ pool_id: msg.pool_id, outcome: "started" });
      if (assignedAt !== undefined) metrics.dispatchLatency.observe({ pool_id: msg.pool_id }, startedAt - assignedAt);
      lastActivity = startedAt;
      labels = { engine: msg.engine, engine_version: msg.engine_version, pool_id: msg.pool_id, replica_id: msg.replica_id, node_id: msg.node_id };
      tracing.started(msg);
      tokenCounter = metrics.tokensOut.labels({ ...labels, model: spec.model_ref });
      interToken = metrics.interToken.labels(latencyLabels());
      metrics.tasksStarted.inc({ ...labels, priority: spec.priority });
      tokensIn = msg.tokens_in;
      if (msg.tokens_in) metrics.tokensIn.inc({ ...labels, model: spec.model_ref }, msg.tokens_in);
      log.debug("Stream started", { ...logFields(), queue_position: admission.queue_position, predicted_start_ms: admission.predicted_start_ms, tokens_in: msg.tokens_in, queue_time_ms: startedAt - admittedAt });
      if (timeouts.wall_ms) ctx.after(timeouts.wall_ms, { type: "watchdog", kind: "wall" });
      if (timeouts.idle_ms) ctx.after(timeouts.idle_ms, { type: "watchdog", kind: "idle" });
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
          ...(msg.tokens_in !== undefined ? { tokens_in: msg.tokens_in } : {}),
        },
      });
    };

    /** One token of the stream, in order (alone or from a batch). */
    const onToken = (t: string, i: number, lp?: TokenLogprob) => {
      lastActivity = ctx.clock.now();
      if (firstTokenMs === undefined) {
        firstTokenMs = lastActivity - admittedAt;
        metrics.firstToken.observe(latencyLabels(), firstTokenMs);
        if (spec.session_id) {
          const at = { node_id: labels.node_id, pool_id: labels.pool_id, replica_id: labels.replica_id };
          ctx.pipeToSelf(hooks.warm(spec.session_id, at), (o) => ({ type: "warmth", kv_warmth: o.ok && o.value }));
        }
      }
      tokens++;
      if (++uncounted >= TOKEN_COUNT_BATCH) countTokens();
      emit({ type: "token", data: lp === undefined ? { t, i } : { t, i, lp } });
      if (tokens === 1 && metricsEvery > 0) {
        requestMetrics();
        hooks.ticker.add(ctx.self);
      }
    };

    const onEngine = (msg: TaskEngineMsg) => {
      if (phase === "ended" || phase === "queued") return; // late frames after cancel/failure
      switch (msg.type) {
        case "engine-started":
          if (phase !== "streaming") onStarted(msg);
          return;
        case "engine-tokens":
          if (phase !== "streaming") return;
          // From a node, over the wire: a malformed batch is ignored, never a crash of the task.
          if (!Array.isArray(msg.t) || !Number.isSafeInteger(msg.from) || msg.t.length > 4096) return;
          // Log probabilities, when the task asked, are parallel to the texts (the node gate checked both).
          for (let k = 0, lp = msg.lp; k < msg.t.length && phase === "streaming"; k++) {
            const t = msg.t[k];
            if (typeof t === "string") onToken(t, msg.from + k, lp === undefined ? undefined : lp[k]);
          }
          tokensDelivered(msg.t.length);
          return;
        case "engine-token":
          if (phase !== "streaming") return;
          onToken(msg.t, msg.i, msg.lp);
          tokensDelivered(1);
          return;
        case "engine-end": {
          const decode = decodeMs();
          // The task's one info line: its outcome, with where it ran and how long it waited.
          log.info(`Stream ended after ${tokens} tokens`, {
            ...logFields(),
            queue_position: admission.queue_position,
            predicted_start_ms: admission.predicted_start_ms,
            queue_time_ms: startedAt === undefined ? undefined : startedAt - admittedAt,
            first_token_ms: firstTokenMs,
            tokens_in: tokensIn,
            tokens_out: tokens,
            decode_time_ms: decode,
            stop_reason: msg.stop_reason,
            kv_warmth: kvWarmth,
            model_id: spec.model_ref,
          });
          const promptTokens = tokensIn ?? msg.tokens_in;
          if (tokensIn === undefined && msg.tokens_in) metrics.tokensIn.inc({ ...labels, model: spec.model_ref }, msg.tokens_in);
          finish({
            type: "end",
            data: {
              // A tool call's text is no token event: the engine's count covers it.
              tokens_out: msg.tool_calls ? Math.max(tokens, msg.tokens_out) : tokens,
              decode_time_ms: decode,
              decode_ms: decode,
              stop_reason: msg.stop_reason === "canceled" ? "stop" : msg.stop_reason,
              ...(promptTokens !== undefined ? { tokens_in: promptTokens } : {}),
              ...(msg.tool_calls ? { tool_calls: msg.tool_calls } : {}),
            },
          });
          return;
        }
        case "engine-error":
          // Refused before it started (pool draining, no slot...): the dispatch failed.
          if (phase === "assigned") metrics.tasksDispatched.inc({ pool_id: labels.pool_id || placement?.pool_id || "", outcome: "refused" });
          fail(msg.error);
          return;
      }
    };

    const dispatch = (msg: Extract<TaskMsg, { type: "assigned" }>) => {
      if (phase !== "queued") return;
      phase = "assigned";
      placement = { node_id: msg.node_id, pool_id: msg.pool_id, agent: msg.agent };
      assignedAt = ctx.clock.now();
      labels.node_id = msg.node_id;
      const sent = msg.agent.tell({
        type: "dispatch",
        task_id: spec.task_id,
        pool_id: msg.pool_id,
        request: engineRequest(spec, tracing.dispatching(msg.node_id, msg.pool_id)),
        sink: ctx.self,
      });
      if (!sent.ok) {
        metrics.tasksDispatched.inc({ pool_id: msg.pool_id, outcome: "unreachable" });
        fail(workerReset(`node ${msg.node_id} is unreachable`, { pool_id: msg.pool_id }));
      }
    };

    return {
      init() {
        if (spec.deadline_ms !== undefined) ctx.after(spec.deadline_ms, { type: "deadline" });
      },
      receive(msg) {
        switch (msg.type) {
          case "subscribe":
            stream.subscribe(msg.sink);
            return { budgets };
          case "closed":
            stream.stored(msg.last);
            close();
            return;
          case "unsubscribe": {
            const removed = stream.unsubscribe(msg.sink);
            if (removed && msg.cancel_if_last && stream.watchers === 0) cancel("disconnect");
            return removed;
          }
          case "cancel":
            cancel(msg.reason);
            return "canceled";
          case "assigned":
            return dispatch(msg);
          case "fail":
            return fail(msg.error);
          case "deadline":
            return timeOut("deadline", apiError("DEADLINE_UNMET", `deadline of ${spec.deadline_ms} ms passed before the task finished`, { retriable: false }));
          case "watchdog": {
            if (phase !== "streaming") return;
            if (msg.kind === "wall") {
              return timeOut("watchdog", decodeTimeout(`decode exceeded the wall timeout of ${timeouts.wall_ms} ms`, { pool_id: labels.pool_id, engine: labels.engine }));
            }
            const idle = ctx.clock.now() - lastActivity;
            if (idle >= timeouts.idle_ms!) {
              return timeOut("watchdog", decodeTimeout(`no token for ${idle} ms (idle timeout ${timeouts.idle_ms} ms)`, { pool_id: labels.pool_id, engine: labels.engine }));
            }
            ctx.after(timeouts.idle_ms! - idle, { type: "watchdog", kind: "idle" });
            return;
          }
          case "metrics-tick":
            if (phase !== "streaming") return;
            countTokens();
            if (spec.session_id) requestBudgets(msg.queue_depth);
            else stream.report(metricsFrame(msg.queue_depth));
            return;
          case "metrics-snapshot":
            if (msg.budgets) budgets = msg.budgets;
            // After a cancel or the end, no metrics frame may follow.
            if (phase === "streaming") stream.report(metricsFrame(msg.queue_depth));
            return;
          case "warmth":
            kvWarmth = msg.kv_warmth;
            return;
          case "expire":
            if (stream.everStored) hooks.stream.discard(spec.task_id);
            ctx.stopSelf();
            return;
          default:
            onEngine(msg);
            return;
        }
      },
      terminate(reason) {
        if (phase !== "ended" && reason.kind === "failed") {
          fail(internalError("task actor failed"), true);
        } else if (phase !== "ended") {
          fail(retriableError("INTERNAL", "control plane is shutting down"), true);
        }
        close(true);
      },
    };
  }
}
