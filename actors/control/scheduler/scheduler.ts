// Scheduler: admission (rate limits, guardrails, bounded queues with reject | drop-lru),
// placement of queued tasks on ready pools with a free slot, lease accounting, measured service
// rates behind predicted_start_ms, and failing the in-flight tasks of a lost node.
//
// Guardrail order (docs/contract.md#tasks): schema (HTTP layer) → rate limits → max_tokens vs ctx →
// deadline ≤ 0 → pins, model presence, ctx_max, VRAM, device mask (checkAdmission) → retired
// model → infeasible deadline → session budgets → queue capacity (reject | drop-lru).

import { startChild, type ActorFactory, type Logger, type SupervisorRef } from "../../../runtime/index.ts";
import { type AdmitOutcome, apiError, type Budgets, type EngineFeature, type ErrorEnvelope, invalidParams, neededFeatures, type Priority, retriableError, type TaskSpec, workerReset } from "../../../contract/index.ts";
import type { ControlMetrics } from "../../../adapters/metrics/index.ts";
import type { NodeEntry } from "../registry/protocol.ts";
import { preparationFor } from "./preparation.ts";
import type { TaskFactory, TaskRef } from "../task/protocol.ts";
import { expectedDecodeMs, pickEviction, predictStartMs, RateLimiter, ServiceRates, type CapacityView, type RateLimits } from "./admission.ts";
import { checkAdmission, featureRefusal, neededCtx, queuedRefusal } from "./feasibility.ts";
import { AdmissionQueues, expectedTokens } from "./queues.ts";
import { decisionLabels, freeSlots, place, poolKey, type Candidate, type PlacementRequest } from "./placement.ts";
import type { SchedulerMsg } from "./protocol.ts";
import type { TaskLinks } from "../links/link-book.ts";
import { placed, queuedTrace, type QueuedTrace } from "./task-trace.ts";
import type { TraceCarrier } from "../../../contract/trace.ts";

export type AdmissionPolicy = "reject" | "drop-lru";

/** What admission needs from the sessions actor (asks wired by the control plane). */
export interface SessionGate {
  begin(session_id: string, task_id: string, reserve_tokens: number): Promise<{ ok: true; budgets: Budgets } | { ok: false; error: ErrorEnvelope }>;
  /** The task named at `begin` was not admitted after all. */
  abort(session_id: string, task_id: string): void;
  affinity(session_id: string): Promise<{ node_id: string; pool_id: string; replica_id?: string } | undefined>;
  /** Budgets of a task without a session. */
  defaults(): Budgets;
}

export interface SchedulerOptions {
  tasks: SupervisorRef;
  taskFactory: TaskFactory;
  log: Logger;
  metrics: ControlMetrics;
  capacity: number;
  policy?: AdmissionPolicy;
  rateLimits?: RateLimits;
  sessions: SessionGate;
  /**
   * Refuses models the catalog has retired. Synchronous on purpose: an admission must not wait
   * for another actor (the catalog tells the control plane its lifecycle changes as they happen).
   */
  modelRetired?: (model_ref: string) => boolean;
  /** Which node link each running task was dispatched over, for the links' gates (actors/control/links). */
  links?: TaskLinks;
}

interface Queued {
  spec: TaskSpec;
  ref: TaskRef;
  enqueuedAt: number;
  affinity?: PlacementRequest["affinity"];
  /** A no-capacity decision was counted for this task already. */
  counted: boolean;
  /** The engine features the task needs (computed once at admission); placement skips pools without them. */
  features: readonly EngineFeature[];
  tracing: QueuedTrace;
}

interface Running {
  ref: TaskRef;
  node_id: string;
  pool_id: string;
  startedAt: number;
  expectedTokens: number;
}


export function scheduler(options: SchedulerOptions): ActorFactory<SchedulerMsg> {
  return (ctx) => {
    const { log, metrics } = options;
    const policy = options.policy ?? "reject";
    const queued = new AdmissionQueues<Queued>();
    const queues = queued.lists;
    const running = new Map<string, Running>();
    const leases = new Map<string, number>();
    const rates = new ServiceRates();
    const limiter = new RateLimiter(options.rateLimits ?? {});
    let nodes: NodeEntry[] = [];

    const depth = () => queued.depth;
    /** Gauges are set when their value changed, not at every pump. */
    const updateDepth = () => {
      // By priority and the pool a task is pinned to ("" when any pool will do): a queued task has no other pool yet.
      for (const q of queued.takeQueueChanges()) metrics.queueDepth.set({ engine: "", engine_version: "", pool_id: q.pool_id, node_id: "", priority: q.priority }, q.tasks);
      for (const [pool_id, n] of queued.takePinChanges()) metrics.admissionQueueDepth.set({ pool_id }, n);
    };
    /** active_leases series set, by node and pool, so those of deregistered nodes can go. */
    const leaseSeries = new Map<string, { node_id: string; pool_id: string }>();
    const setLeases = (node_id: string, pool_id: string, n: number) => {
      leaseSeries.set(poolKey(node_id, pool_id), { node_id, pool_id });
      metrics.activeLeases.set({ node_id, pool_id }, n);
    };
    /** Series of pools and nodes no longer registered go (queue gauges once nothing waits for the pool). */
    const forgetGone = () => {
      const registered = new Set(nodes.flatMap((n) => n.pools.map((p) => p.pool_id)));
      for (const pool_id of queued.forgetPools(registered)) {
        for (const priority of ["interactive", "batch"]) metrics.queueDepth.remove({ engine: "", engine_version: "", pool_id, node_id: "", priority });
        metrics.admissionQueueDepth.remove({ pool_id });
      }
      const held = new Set(nodes.flatMap((n) => n.pools.map((p) => poolKey(n.node_id, p.pool_id))));
      for (const [key, l] of leaseSeries) if (!held.has(key) && leaseSeries.delete(key)) metrics.activeLeases.remove(l);
    };
    /** The pinned pool, when a registered node holds it: admission counters never take a client's string. */
    const pinOf = (spec: TaskSpec) => {
      const pin = spec.placement?.pin_pool_id;
      return pin !== undefined && nodes.some((n) => n.pools.some((p) => p.pool_id === pin)) ? pin : "";
    };


    const candidates = (): Candidate[] =>
      nodes.flatMap((n) =>
        n.pools.map((p) => ({
          node_id: n.node_id,
          pool_id: p.pool_id,
          replica_id: p.replica_id,
          // A node registered over REST has no link: it cannot be given a task.
          online: n.online && n.agent !== undefined,
          ready: p.ready,
          draining: p.draining,
          slots_total: p.slots_total,
          leases: leases.get(poolKey(n.node_id, p.pool_id)) ?? 0,
          vram_free_bytes: p.vram_free_bytes,
          vram_total_bytes: p.vram_total_bytes,
          // A pool that serves only embeddings (llama-server with --embeddings) takes no task.
          models_available: !p.workloads || p.workloads.includes("completion") ? p.models_available : [],
          ctx_max: p.ctx_max,
          devices: p.devices,
          engine: p.engine,
        })),
      );

    const capacityFor = (model: string): CapacityView => ({
      pools: candidates()
        .filter((c) => c.online && c.ready && !c.draining && c.models_available.includes(model))
        .map((c) => {
          const slots = Math.max(1, c.slots_total ?? 0);
          return { key: poolKey(c.node_id, c.pool_id), slots, free: Math.max(0, slots - c.leases) };
        }),
    });

    /**
     * When a newcomer of `priority` for `model` would start. The queue's counts say how many wait
     * ahead; only when they outnumber the free slots are the running tasks' remaining tokens
     * added up (a walk over the running tasks, which a free slot makes needless).
     */
    const predictStart = (view: CapacityView, model: string, priority: Priority) => {
      const ahead = queued.ahead(model, priority);
      if (ahead.tasks < view.pools.reduce((n, p) => n + p.free, 0)) return 0;
      const now = ctx.clock.now();
      let tokens = ahead.tokens;
      for (const r of running.values()) {
        const done = (now - r.startedAt) * rates.tokensPerMs(poolKey(r.node_id, r.pool_id));
        tokens += Math.max(0, r.expectedTokens - done);
      }
      return predictStartMs(view, rates, { aheadTasks: ahead.tasks, aheadTokens: tokens });
    };

    const reject = (error: ErrorEnvelope, engine = ""): AdmitOutcome => {
      metrics.tasksRejected.inc({ engine, reason: error.code });
      return { ok: false, error };
    };

    const placementRequest = (q: Queued): PlacementRequest => ({ ...placementRequestOf(q.spec), affinity: q.affinity, features: q.features });

    /** Places every queued task that fits now, in priority then arrival order. */
    const pump = () => {
      // One snapshot per pump; placements below update its lease counts in place.
      const pool = candidates();
      const hasFreeSlot = () => pool.some((c) => c.online && c.ready && !c.draining && freeSlots(c) > 0);
      for (const p of ["interactive", "batch"] as const) {
        const queue = queues[p];
        for (let i = 0; i < queue.length && hasFreeSlot(); ) {
          const item = queue[i]!;
          const decision = place(pool, placementRequest(item));
          metrics.placementCandidates.set(decision.log.candidates_considered);
          if (!decision.ok) {
            const refused = queuedRefusal(pool, item.spec); // its pools came up with a smaller context
            if (refused) {
              queued.removeAt(p, i);
              item.tracing.placement.end({ "llorch.outcome": "refused" }, refused);
              item.ref.tell({ type: "fail", error: refused });
              continue;
            }
            if (!item.counted) {
              item.counted = true;
              metrics.placementDecisions.inc(decisionLabels(decision));
              log.debug("No pool can take the task yet; it stays queued", { job_id: item.spec.task_id, ...item.tracing.fields, decision_reason: decision.reason, filtered: decision.log.filtered });
            }
            i++;
            continue;
          }
          const node = nodes.find((n) => n.node_id === decision.node_id)!;
          queued.removeAt(p, i);
          const key = poolKey(decision.node_id, decision.pool_id);
          leases.set(key, (leases.get(key) ?? 0) + 1);
          setLeases(decision.node_id, decision.pool_id, leases.get(key)!);
          pool.find((c) => c.node_id === decision.node_id && c.pool_id === decision.pool_id)!.leases++;
          running.set(item.spec.task_id, {
            ref: item.ref,
            node_id: decision.node_id,
            pool_id: decision.pool_id,
            startedAt: ctx.clock.now(),
            expectedTokens: expectedTokens(item.spec),
          });
          metrics.placementDecisions.inc(decisionLabels(decision));
          placed(log, item.spec.task_id, item.tracing, decision, ctx.clock.now() - item.enqueuedAt);
          if (node.link_id !== undefined) options.links?.bind(item.spec.task_id, node.link_id);
          item.ref.tell({ type: "assigned", node_id: decision.node_id, pool_id: decision.pool_id, agent: node.agent! });
        }
      }
      updateDepth();
    };

    const release = (taskId: string) => {
      const r = running.get(taskId);
      if (!r) return undefined;
      running.delete(taskId);
      options.links?.release(taskId);
      const key = poolKey(r.node_id, r.pool_id);
      const left = Math.max(0, (leases.get(key) ?? 1) - 1);
      leases.set(key, left);
      setLeases(r.node_id, r.pool_id, left);
      return r;
    };

    /** Full queue: refuse (reject) or make room by evicting (drop-lru). */
    const makeRoom = (spec: TaskSpec): ErrorEnvelope | undefined => {
      if (depth() < options.capacity) return undefined;
      metrics.backpressureEvents.inc({ engine: spec.engine ?? "", policy });
      if (policy === "reject") {
        return retriableError("ADMISSION_REJECT", `admission queue is full (${options.capacity})`, { policy_label: "reject" });
      }
      const victim = pickEviction(queues, spec.priority);
      if (!victim) {
        return retriableError("QUEUE_FULL_DROP_LRU", `admission queue is full (${options.capacity}) and holds nothing of priority ${spec.priority} or lower to drop`, { policy_label: "drop-lru" });
      }
      const evicted = queued.removeAt(victim.priority, victim.index);
      metrics.tasksRejected.inc({ engine: evicted!.spec.engine ?? "", reason: "QUEUE_FULL_DROP_LRU" });
      metrics.admissionRejected.inc({ pool_id: pinOf(evicted!.spec), reason: "QUEUE_FULL_DROP_LRU" });
      log.warn("Queue full; dropped the oldest queued task to admit a new one", { job_id: evicted!.spec.task_id, ...evicted!.tracing.fields, policy: "drop-lru", priority: victim.priority });
      evicted!.tracing.placement.end({ "llorch.outcome": "dropped" }, { code: "QUEUE_FULL_DROP_LRU", message: "dropped from a full queue" });
      evicted!.ref.tell({
        type: "fail",
        error: retriableError("QUEUE_FULL_DROP_LRU", "dropped from a full queue (drop-lru) to admit a newer task", { policy_label: "drop-lru" }),
      });
      return undefined;
    };

    /** Every admission decision counts once, by the pool the task targets. */
    const admit = async (spec: TaskSpec, correlationId: string, identity: string, trace?: TraceCarrier): Promise<AdmitOutcome> => {
      const outcome = await decide(spec, correlationId, identity, trace);
      const pool_id = pinOf(spec);
      metrics.admissionEnqueued.inc({ pool_id, outcome: outcome.ok ? "accepted" : "rejected" });
      if (!outcome.ok) metrics.admissionRejected.inc({ pool_id, reason: outcome.error.code });
      return outcome;
    };

    const decide = async (spec: TaskSpec, correlationId: string, identity: string, trace?: TraceCarrier): Promise<AdmitOutcome> => {
      const engine = spec.engine ?? "";
      if (ctx.system.isAlive(`${options.tasks.path}/${spec.task_id}`)) {
        return reject(invalidParams(`task_id ${spec.task_id} already exists`), engine);
      }
      const limited = limiter.enabled ? limiter.take(identity, spec.max_tokens, ctx.clock.now()) : ({ ok: true } as const);
      if (!limited.ok) {
        metrics.rateLimited.inc({ reason: limited.reason });
        return reject(
          retriableError("ADMISSION_REJECT", `rate limit exceeded (${limited.reason === "rps" ? "requests per second" : "tokens per minute"})`, { policy_label: `rate.${limited.reason}`, retry_after_ms: limited.retry_after_ms }),
          engine,
        );
      }
      if (spec.ctx > 0 && spec.max_tokens > spec.ctx) {
        return reject(invalidParams(`max_tokens (${spec.max_tokens}) exceeds the requested ctx (${spec.ctx})`), engine);
      }
      if (spec.deadline_ms !== undefined && spec.deadline_ms <= 0) {
        return reject(apiError("DEADLINE_UNMET", "deadline_ms must be positive"), engine);
      }
      const pool = candidates();
      const feasible = checkAdmission(pool, { ...placementRequestOf(spec), ctx: neededCtx(spec) });
      if (!feasible.ok) {
        const { ok: _, ...error } = feasible;
        return reject(error.retriable || error.code === "POOL_UNAVAILABLE" ? retriableError(error.code, error.message, { ...error, retriable: true }) : error, engine);
      }
      const needs = neededFeatures(spec);
      const unsupported = featureRefusal(pool, spec, needs);
      if (unsupported) return reject(unsupported, engine);
      if (options.modelRetired?.(spec.model_ref)) {
        return reject(apiError("MODEL_NOT_AVAILABLE", `model '${spec.model_ref}' is retired in the catalog`), engine);
      }
      const view = capacityFor(spec.model_ref);
      const predicted = predictStart(view, spec.model_ref, spec.priority);
      if (spec.deadline_ms !== undefined) {
        // Only measured rates may refuse a deadline; the default assumptions are guesses.
        const measured = view.pools.length > 0 && view.pools.every((p) => rates.measured(p.key));
        const eta = predicted + (measured ? expectedDecodeMs(view, rates, expectedTokens(spec)) : 0);
        if (eta > spec.deadline_ms && (measured || predicted > spec.deadline_ms)) {
          return reject(apiError("DEADLINE_UNMET", `deadline_ms ${spec.deadline_ms} cannot be met (estimated ${eta} ms)`), engine);
        }
      }
      let budgets: Budgets = options.sessions.defaults();
      let affinity: Queued["affinity"];
      if (spec.session_id) {
        const begun = await options.sessions.begin(spec.session_id, spec.task_id, spec.max_tokens);
        if (!begun.ok) return reject(begun.error, engine);
        budgets = begun.budgets;
        if (spec.kv_hint !== "cold") affinity = await options.sessions.affinity(spec.session_id);
      }
      const undo = () => spec.session_id && options.sessions.abort(spec.session_id, spec.task_id);
      const full = makeRoom(spec);
      if (full) {
        undo();
        return reject(full, engine);
      }
      const position = queues[spec.priority].length;
      let ref: TaskRef;
      try {
        ref = await startChild(options.tasks, {
          id: spec.task_id,
          restart: "temporary",
          start: options.taskFactory(spec, { queue_position: position, predicted_start_ms: predicted, correlation_id: correlationId, trace, budgets }),
        });
      } catch {
        undo();
        return reject(invalidParams(`task_id ${spec.task_id} already exists`), engine);
      }
      const tracing = queuedTrace(spec, correlationId, trace);
      queued.push({ spec, ref, enqueuedAt: ctx.clock.now(), affinity, counted: false, tracing, features: [...new Set(needs.map((n) => n.feature))] });
      metrics.tasksEnqueued.inc({ engine, engine_version: "", pool_id: "", replica_id: "", priority: spec.priority });
      const fields = { job_id: spec.task_id, session_id: spec.session_id, ...tracing.fields, identity, model_id: spec.model_ref, ctx: spec.ctx };
      log.debug(`Accepted request; queued at position ${position} (ETA ${predicted} ms)`, { ...fields, queue_position: position, predicted_start_ms: predicted });
      const steps = preparationFor(nodes, spec.model_ref, spec.placement);
      pump();
      return {
        ok: true,
        budgets,
        admission: {
          task_id: spec.task_id,
          queue_position: position,
          predicted_start_ms: predicted,
          backoff_ms: 0,
          streams: { sse: `/v2/tasks/${spec.task_id}/events`, sse_verbose: `/v2/tasks/${spec.task_id}/events?verbose=true` },
          ...(steps ? { preparation: { steps } } : {}),
        },
      };
    };

    return {
      async receive(msg) {
        switch (msg.type) {
          case "admit":
            return admit(msg.request, msg.correlation_id, msg.identity ?? "localhost", msg.trace);
          case "nodes":
            nodes = msg.nodes;
            pump();
            forgetGone();
            return;
          case "node-lost": {
            for (const [taskId, r] of running) {
              if (r.node_id !== msg.node_id) continue;
              release(taskId);
              r.ref.tell({
                type: "fail",
                error: workerReset(`node ${msg.node_id} was lost mid-task (${msg.reason})`, { pool_id: r.pool_id }),
              });
            }
            for (const key of [...leases.keys()]) if (key.startsWith(`${msg.node_id}/`)) leases.delete(key);
            pump();
            return;
          }
          case "task-ended": {
            queued.remove(msg.task_id)?.tracing.placement.end({ "llorch.outcome": "ended_in_queue" });
            const r = release(msg.task_id);
            if (r && msg.tokens_out !== undefined && msg.decode_ms !== undefined && msg.tokens_out > 0) {
              rates.observe(poolKey(r.node_id, r.pool_id), { tokens_out: msg.tokens_out, decode_ms: msg.decode_ms, first_token_ms: msg.first_token_ms });
            }
            pump();
            return;
          }
          case "status":
            return { queue_depth: depth(), running: running.size, leases: Object.fromEntries(leases) };
        }
      },
    };
  };
}

function placementRequestOf(spec: TaskSpec): PlacementRequest {
  return { model_ref: spec.model_ref, ctx: spec.ctx || undefined, placement: spec.placement, kv_hint: spec.kv_hint };
}
