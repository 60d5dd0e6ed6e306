// The live task (task.ts): from admission to its last event, then it hands over to an
// `EndedTask` (ended.ts). State in fields, handlers on the prototype: no closure per task.
// Engine frames (the token path) and the `metrics` frame are in task-engine.ts.

import type { ActorContext, Behavior, ExitReason } from "../../../runtime/index.ts";
import { apiError, type Budgets, decodeTimeout, type ErrorEnvelope, internalError, retriableError, type StreamEvent, type TaskSpec, workerReset } from "../../../contract/index.ts";
import type { AgentRef } from "../../../contract/link.ts";
import type { AdmissionInfo, TaskMsg } from "./protocol.ts";
import type { TaskOptions } from "./task.ts";
import { EndedTask, type Switchable, taskStream } from "./ended.ts";
import { engineRequest } from "./engine-request.ts";
import { taskTrace, type TaskTrace } from "./trace.ts";
import type { StreamLog } from "./stream-log.ts";
import { metricsFrame, onEngine } from "./task-engine.ts";

export type Phase = "queued" | "assigned" | "streaming" | "ended";

export interface TaskLabels {
  engine: string;
  engine_version: string;
  pool_id: string;
  replica_id: string;
  node_id: string;
}

export interface LatencyLabels {
  engine: string;
  engine_version: string;
  pool_id: string;
  node_id: string;
  model: string;
  priority: TaskSpec["priority"];
}

export class LiveTask implements Behavior<TaskMsg> {
  readonly stream: StreamLog;
  readonly tracing: TaskTrace;
  readonly admittedAt: number;
  phase: Phase = "queued";
  placement: { node_id: string; pool_id: string; agent: AgentRef } | undefined = undefined;
  labels: TaskLabels;
  /** The labels of the latency histograms, built once the engine started (and then fixed). */
  latency: LatencyLabels | undefined = undefined;
  tokens = 0;
  startedAt: number | undefined = undefined;
  assignedAt: number | undefined = undefined;
  tokensIn: number | undefined = undefined;
  firstTokenMs: number | undefined = undefined;
  lastActivity: number;
  budgets: Budgets;
  kvWarmth = false;
  tokenCounter: { inc(n: number): void } | undefined = undefined;
  interToken: { observe(ms: number): void } | undefined = undefined;
  /** Inter-token latency: when the window began (the previous observed delivery) and its tokens. */
  gapSince: number | undefined = undefined;
  gapTokens = 0;
  /** Tokens not yet in tokens_out_total: it is updated in batches, not per token (docs/contract.md#metrics). */
  uncounted = 0;
  /** The last event is held while its transcript is being stored. */
  holding = false;

  constructor(
    readonly ctx: ActorContext<TaskMsg>,
    private readonly holder: Switchable<TaskMsg>,
    readonly options: TaskOptions,
    readonly spec: TaskSpec,
    readonly admission: AdmissionInfo,
  ) {
    this.tracing = taskTrace(spec, admission);
    this.stream = taskStream(spec.task_id, options.hooks.stream, options.log, options.stream, this.tracing.fields);
    this.admittedAt = ctx.clock.now();
    this.lastActivity = this.admittedAt;
    this.labels = { engine: spec.engine ?? "", engine_version: "", pool_id: "", replica_id: "", node_id: "" };
    this.budgets = admission.budgets;
  }

  init(): void {
    if (this.spec.deadline_ms !== undefined) this.ctx.after(this.spec.deadline_ms, { type: "deadline" });
  }

  receive(msg: TaskMsg): unknown {
    switch (msg.type) {
      case "subscribe":
        this.stream.subscribe(msg.sink);
        return { budgets: this.budgets };
      case "closed":
        this.stream.stored(msg.last);
        this.close();
        return;
      case "unsubscribe": {
        const removed = this.stream.unsubscribe(msg.sink);
        if (removed && msg.cancel_if_last && this.stream.watchers === 0) this.cancel("disconnect");
        return removed;
      }
      case "cancel":
        this.cancel(msg.reason);
        return "canceled";
      case "assigned":
        return this.dispatch(msg);
      case "fail":
        return this.fail(msg.error);
      case "deadline":
        return this.timeOut("deadline", apiError("DEADLINE_UNMET", `deadline of ${this.spec.deadline_ms} ms passed before the task finished`, { retriable: false }));
      case "watchdog":
        return this.watchdog(msg.kind);
      case "metrics-tick":
        if (this.phase !== "streaming") return;
        this.countTokens();
        if (this.spec.session_id) this.requestBudgets(msg.queue_depth);
        else this.stream.report(metricsFrame(this, msg.queue_depth));
        return;
      case "metrics-snapshot":
        if (msg.budgets) this.budgets = msg.budgets;
        // After a cancel or the end, no metrics frame may follow.
        if (this.phase === "streaming") this.stream.report(metricsFrame(this, msg.queue_depth));
        return;
      case "warmth":
        this.kvWarmth = msg.kv_warmth;
        return;
      case "expire":
        if (this.stream.everStored) this.options.hooks.stream.discard(this.spec.task_id);
        this.ctx.stopSelf();
        return;
      default:
        onEngine(this, msg);
        return;
    }
  }

  terminate(reason: ExitReason): void {
    if (this.phase !== "ended" && reason.kind === "failed") {
      this.fail(internalError("task actor failed"), true);
    } else if (this.phase !== "ended") {
      this.fail(retriableError("INTERNAL", "control plane is shutting down"), true);
    }
    this.close(true);
  }

  countTokens(): void {
    if (this.uncounted > 0) this.tokenCounter?.inc(this.uncounted);
    this.uncounted = 0;
  }

  decodeMs(): number {
    return this.startedAt === undefined ? 0 : Math.max(0, this.ctx.clock.now() - this.startedAt);
  }

  logFields(): Record<string, unknown> {
    return { job_id: this.spec.task_id, session_id: this.spec.session_id, ...this.tracing.fields, ...this.labels };
  }

  /** Sends the held last event, lets subscribers go, and keeps the ended task around for a while. */
  close(stopping = false): void {
    if (!this.holding) return;
    this.holding = false;
    this.stream.release();
    if (stopping) return;
    this.ctx.after(this.options.retentionMs, { type: "expire" });
    this.holder.become(new EndedTask(this.ctx, this.spec.task_id, this.stream, this.budgets, this.options.hooks.stream));
  }

  /**
   * Ends the task. The transcript is committed before the last event goes out, so a client that
   * saw `end` can fetch it; `immediate` (shutdown) does not wait for the store.
   */
  finish(event: StreamEvent, immediate = false): void {
    if (this.phase === "ended") return;
    const { ctx, spec, options } = this;
    const { hooks, metrics } = options;
    const wasQueued = this.phase === "queued";
    this.phase = "ended";
    hooks.ticker.remove(ctx.self);
    this.holding = true;
    this.countTokens();
    const decode = this.decodeMs();
    const tokens = this.tokens;
    options.scheduler.tell({ type: "task-ended", task_id: spec.task_id, decode_ms: decode, tokens_out: tokens, first_token_ms: this.firstTokenMs });
    if (event.type === "end" && !event.data.canceled && this.startedAt !== undefined && this.latency) {
      metrics.decode.observe(this.latency, decode);
      metrics.endToEnd.observe(this.latency, ctx.clock.now() - this.admittedAt);
    }
    if (spec.session_id) hooks.spend(spec.session_id, spec.task_id, tokens, decode);
    const queueMs = (this.startedAt ?? (wasQueued ? ctx.clock.now() : this.admittedAt)) - this.admittedAt;
    this.tracing.ended(event);
    const last = this.stream.hold(event);
    const labels = this.labels;
    const stored = hooks.stream.finish(spec.task_id, last, { spec, last: event, tokens, decodeMs: decode, queueMs, labels, nodeId: labels.node_id, logFields: this.tracing.fields });
    if (immediate) this.close(true);
    else ctx.pipeToSelf(stored, (o) => ({ type: "closed", last: o.ok && o.value ? last : undefined }));
  }

  fail(error: ErrorEnvelope, immediate = false): void {
    if (this.phase === "ended") return;
    this.options.log.warn(`Task failed: ${error.message}`, { ...this.logFields(), error_kind: error.code, tokens_out: this.tokens });
    this.finish({ type: "error", data: error }, immediate);
  }

  private stopEngine(): void {
    const placement = this.placement;
    if (placement && this.phase !== "queued") placement.agent.tell({ type: "cancel", task_id: this.spec.task_id, pool_id: placement.pool_id });
  }

  /** Ends the task as canceled; after this nothing but the final `end` has been emitted. */
  private cancel(reason: "client" | "disconnect"): void {
    if (this.phase === "ended") return;
    this.stopEngine();
    this.options.metrics.tasksCanceled.inc({ ...this.labels, reason });
    const tokens = this.tokens;
    this.options.log.info("Task canceled", { ...this.logFields(), canceled: true, reason, tokens_out: tokens });
    const decode = this.decodeMs();
    this.finish({ type: "end", data: { tokens_out: tokens, decode_time_ms: decode, decode_ms: decode, canceled: true, stop_reason: "canceled" } });
  }

  /** The watchdog or the deadline ends a task: the engine stops, the client gets an error. */
  private timeOut(reason: "watchdog" | "deadline", error: ErrorEnvelope): void {
    if (this.phase === "ended") return;
    this.stopEngine();
    this.options.metrics.tasksCanceled.inc({ ...this.labels, reason });
    this.fail(error);
  }

  private watchdog(kind: "wall" | "idle"): void {
    if (this.phase !== "streaming") return;
    const timeouts = this.options.timeouts ?? {};
    const { pool_id, engine } = this.labels;
    if (kind === "wall") {
      return this.timeOut("watchdog", decodeTimeout(`decode exceeded the wall timeout of ${timeouts.wall_ms} ms`, { pool_id, engine }));
    }
    const idle = this.ctx.clock.now() - this.lastActivity;
    if (idle >= timeouts.idle_ms!) {
      return this.timeOut("watchdog", decodeTimeout(`no token for ${idle} ms (idle timeout ${timeouts.idle_ms} ms)`, { pool_id, engine }));
    }
    this.ctx.after(timeouts.idle_ms! - idle, { type: "watchdog", kind: "idle" });
  }

  /** A frame with a session's budgets waits for them; the queue depth came with the tick. */
  private requestBudgets(queueDepth: number): void {
    this.ctx.pipeToSelf(this.options.hooks.budgets(this.spec.session_id), (o) => ({ type: "metrics-snapshot", queue_depth: queueDepth, budgets: o.ok ? o.value : undefined }));
  }

  requestMetrics(): void {
    const hooks = this.options.hooks;
    this.ctx.pipeToSelf(
      Promise.all([hooks.queueDepth(), hooks.budgets(this.spec.session_id)]),
      (o) => (o.ok ? { type: "metrics-snapshot", queue_depth: o.value[0], budgets: o.value[1] } : { type: "metrics-snapshot", queue_depth: 0 }),
    );
  }

  private dispatch(msg: Extract<TaskMsg, { type: "assigned" }>): void {
    if (this.phase !== "queued") return;
    const { spec, ctx, options } = this;
    this.phase = "assigned";
    this.placement = { node_id: msg.node_id, pool_id: msg.pool_id, agent: msg.agent };
    this.assignedAt = ctx.clock.now();
    this.labels.node_id = msg.node_id;
    const sent = msg.agent.tell({
      type: "dispatch",
      task_id: spec.task_id,
      pool_id: msg.pool_id,
      request: engineRequest(spec, this.tracing.dispatching(msg.node_id, msg.pool_id)),
      sink: ctx.self,
    });
    if (!sent.ok) {
      options.metrics.tasksDispatched.inc({ pool_id: msg.pool_id, outcome: "unreachable" });
      this.fail(workerReset(`node ${msg.node_id} is unreachable`, { pool_id: msg.pool_id }));
    }
  }
}
