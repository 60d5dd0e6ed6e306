// The live task's engine frames (started, tokens, end, error) and its `metrics` frame, as
// functions of the task (task-live.ts) rather than closures of each task. The token path
// (`onToken`) allocates the token event and nothing else.

import type { StreamEvent, TokenLogprob } from "../../../contract/index.ts";
import type { TaskEngineMsg } from "../../../contract/link.ts";
import { onTimeProbability } from "../scheduler/admission.ts";
import type { LiveTask } from "./task-live.ts";

/** Tokens counted at once into tokens_out_total (and at every metrics tick and at the end). */
const TOKEN_COUNT_BATCH = 64;
/** Tokens per inter-token latency observation: one mean gap per batch of at least this many. */
const INTER_TOKEN_SAMPLE = 8;

export function onEngine(task: LiveTask, msg: TaskEngineMsg): void {
  const phase = task.phase;
  if (phase === "ended" || phase === "queued") return; // late frames after cancel/failure
  switch (msg.type) {
    case "engine-started":
      if (phase !== "streaming") onStarted(task, msg);
      return;
    case "engine-tokens": {
      if (phase !== "streaming") return;
      // From a node, over the wire: a malformed batch is ignored, never a crash of the task.
      if (!Array.isArray(msg.t) || !Number.isSafeInteger(msg.from) || msg.t.length > 4096) return;
      // Log probabilities, when the task asked, are parallel to the texts (the node gate checked both).
      for (let k = 0, lp = msg.lp; k < msg.t.length && task.phase === "streaming"; k++) {
        const t = msg.t[k];
        if (typeof t === "string") onToken(task, t, msg.from + k, lp === undefined ? undefined : lp[k]);
      }
      tokensDelivered(task, msg.t.length);
      return;
    }
    case "engine-token":
      if (phase !== "streaming") return;
      onToken(task, msg.t, msg.i, msg.lp);
      tokensDelivered(task, 1);
      return;
    case "engine-end":
      return onEnd(task, msg);
    case "engine-error":
      // Refused before it started (pool draining, no slot...): the dispatch failed.
      if (phase === "assigned") task.options.metrics.tasksDispatched.inc({ pool_id: task.labels.pool_id || task.placement?.pool_id || "", outcome: "refused" });
      task.fail(msg.error);
      return;
  }
}

function onStarted(task: LiveTask, msg: Extract<TaskEngineMsg, { type: "engine-started" }>): void {
  const { ctx, spec, admission, options } = task;
  const { metrics, log } = options;
  const timeouts = options.timeouts ?? {};
  task.phase = "streaming";
  const startedAt = ctx.clock.now();
  task.startedAt = startedAt;
  metrics.tasksDispatched.inc({ pool_id: msg.pool_id, outcome: "started" });
  if (task.assignedAt !== undefined) metrics.dispatchLatency.observe({ pool_id: msg.pool_id }, startedAt - task.assignedAt);
  task.lastActivity = startedAt;
  const labels = { engine: msg.engine, engine_version: msg.engine_version, pool_id: msg.pool_id, replica_id: msg.replica_id, node_id: msg.node_id };
  task.labels = labels;
  task.latency = { engine: labels.engine, engine_version: labels.engine_version, pool_id: labels.pool_id, node_id: labels.node_id, model: spec.model_ref, priority: spec.priority };
  task.tracing.started(msg);
  task.tokenCounter = metrics.tokensOut.labels({ ...labels, model: spec.model_ref });
  task.interToken = metrics.interToken.labels(task.latency);
  metrics.tasksStarted.inc({ ...labels, priority: spec.priority });
  task.tokensIn = msg.tokens_in;
  if (msg.tokens_in) metrics.tokensIn.inc({ ...labels, model: spec.model_ref }, msg.tokens_in);
  log.debug("Stream started", { ...task.logFields(), queue_position: admission.queue_position, predicted_start_ms: admission.predicted_start_ms, tokens_in: msg.tokens_in, queue_time_ms: startedAt - task.admittedAt });
  if (timeouts.wall_ms) ctx.after(timeouts.wall_ms, { type: "watchdog", kind: "wall" });
  if (timeouts.idle_ms) ctx.after(timeouts.idle_ms, { type: "watchdog", kind: "idle" });
  task.stream.emit({
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
}

/** One token of the stream, in order (alone or from a batch). */
function onToken(task: LiveTask, t: string, i: number, lp?: TokenLogprob): void {
  const now = task.ctx.clock.now();
  task.lastActivity = now;
  if (task.firstTokenMs === undefined) firstToken(task, now);
  const tokens = ++task.tokens;
  if (++task.uncounted >= TOKEN_COUNT_BATCH) task.countTokens();
  task.stream.emit({ type: "token", data: lp === undefined ? { t, i } : { t, i, lp } });
  if (tokens === 1 && (task.options.metricsIntervalMs ?? 1000) > 0) {
    task.requestMetrics();
    task.options.hooks.ticker.add(task.ctx.self);
  }
}

function firstToken(task: LiveTask, now: number): void {
  const { spec, labels, options } = task;
  const firstTokenMs = now - task.admittedAt;
  task.firstTokenMs = firstTokenMs;
  options.metrics.firstToken.observe(task.latency!, firstTokenMs);
  if (spec.session_id) {
    const at = { node_id: labels.node_id, pool_id: labels.pool_id, replica_id: labels.replica_id };
    task.ctx.pipeToSelf(options.hooks.warm(spec.session_id, at), (o) => ({ type: "warmth", kv_warmth: o.ok && o.value }));
  }
}

/** After a delivery of `n` tokens: the mean gap per token since the window began, once it holds enough. */
function tokensDelivered(task: LiveTask, n: number): void {
  if (task.gapSince === undefined) {
    task.gapSince = task.lastActivity; // the first delivery only opens the window
    return;
  }
  task.gapTokens += n;
  if (task.gapTokens < INTER_TOKEN_SAMPLE) return;
  task.interToken?.observe((task.lastActivity - task.gapSince) / task.gapTokens);
  task.gapSince = task.lastActivity;
  task.gapTokens = 0;
}

function onEnd(task: LiveTask, msg: Extract<TaskEngineMsg, { type: "engine-end" }>): void {
  const { spec, admission, options } = task;
  const decode = task.decodeMs();
  const tokens = task.tokens;
  const tokensIn = task.tokensIn;
  // The task's one info line: its outcome, with where it ran and how long it waited.
  options.log.info(`Stream ended after ${tokens} tokens`, {
    ...task.logFields(),
    queue_position: admission.queue_position,
    predicted_start_ms: admission.predicted_start_ms,
    queue_time_ms: task.startedAt === undefined ? undefined : task.startedAt - task.admittedAt,
    first_token_ms: task.firstTokenMs,
    tokens_in: tokensIn,
    tokens_out: tokens,
    decode_time_ms: decode,
    stop_reason: msg.stop_reason,
    kv_warmth: task.kvWarmth,
    model_id: spec.model_ref,
  });
  const promptTokens = tokensIn ?? msg.tokens_in;
  if (tokensIn === undefined && msg.tokens_in) options.metrics.tokensIn.inc({ ...task.labels, model: spec.model_ref }, msg.tokens_in);
  task.finish({
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
}

export function metricsFrame(task: LiveTask, queueDepth: number): StreamEvent {
  const { spec, budgets, labels } = task;
  const tokens = task.tokens;
  const elapsed = task.decodeMs();
  const rate = tokens > 0 && elapsed > 0 ? tokens / elapsed : undefined;
  const needed = rate ? (spec.max_tokens - tokens) / rate : undefined;
  const slack = spec.deadline_ms === undefined ? undefined : task.admittedAt + spec.deadline_ms - task.ctx.clock.now();
  return {
    type: "metrics",
    data: {
      queue_depth: queueDepth,
      on_time_probability: needed === undefined ? (slack === undefined || slack > 0 ? 1 : 0) : onTimeProbability(slack, needed),
      kv_warmth: task.kvWarmth,
      tokens_budget_remaining: Math.max(0, budgets.tokens_remaining),
      time_budget_remaining_ms: Math.max(0, budgets.time_remaining_ms),
      cost_budget_remaining: Math.max(0, budgets.cost_remaining),
      tokens_out: tokens,
      human: `Streaming on pool ${labels.pool_id} of node ${labels.node_id}: ${tokens} of at most ${spec.max_tokens} tokens so far`,
    },
  };
}
