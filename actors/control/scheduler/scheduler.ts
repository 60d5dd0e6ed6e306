// Scheduler: admission into a bounded FIFO (interactive before batch), placement of queued tasks
// on ready pools with a free slot, lease accounting, and failing the in-flight tasks of a lost node.

import { startChild, type ActorFactory, type Logger, type SupervisorRef } from "../../../runtime/index.ts";
import type { AdmitOutcome } from "../../../adapters/http/port.ts";
import type { ErrorEnvelope, Priority, TaskSpec } from "../../../adapters/http/schemas.ts";
import type { ControlMetrics } from "../../../adapters/metrics/index.ts";
import type { NodeEntry } from "../registry/protocol.ts";
import type { TaskFactory, TaskRef } from "../task/protocol.ts";
import { place, poolKey, type Candidate } from "./placement.ts";
import type { SchedulerMsg } from "./protocol.ts";

export interface SchedulerOptions {
  tasks: SupervisorRef;
  taskFactory: TaskFactory;
  log: Logger;
  metrics: ControlMetrics;
  capacity: number;
  retryAfterMs?: number;
}

interface Queued {
  spec: TaskSpec;
  ref: TaskRef;
  enqueuedAt: number;
}

interface Running {
  ref: TaskRef;
  node_id: string;
  pool_id: string;
  startedAt: number;
}

/** Service time assumed before any task has finished (ms). */
const INITIAL_SERVICE_MS = 100;

export function scheduler(options: SchedulerOptions): ActorFactory<SchedulerMsg> {
  return (ctx) => {
    const { log, metrics } = options;
    const queues: Record<Priority, Queued[]> = { interactive: [], batch: [] };
    const running = new Map<string, Running>();
    const leases = new Map<string, number>();
    let nodes: NodeEntry[] = [];
    let serviceMs = INITIAL_SERVICE_MS;

    const depth = () => queues.interactive.length + queues.batch.length;
    const updateDepth = () => {
      for (const p of ["interactive", "batch"] as const) {
        metrics.queueDepth.set({ engine: "", engine_version: "", pool_id: "", priority: p }, queues[p].length);
      }
    };

    const candidates = (): Candidate[] =>
      nodes.flatMap((n) =>
        n.pools.map((p) => ({
          node_id: n.node_id,
          pool_id: p.pool_id,
          online: n.online,
          ready: p.ready,
          draining: p.draining,
          slots_total: p.slots_total,
          leases: leases.get(poolKey(n.node_id, p.pool_id)) ?? 0,
          vram_free_bytes: p.vram_free_bytes,
          models_available: p.models_available,
        })),
      );

    const totalSlots = (model: string) =>
      candidates()
        .filter((c) => c.online && c.ready && c.models_available.includes(model))
        .reduce((n, c) => n + Math.max(1, c.slots_total), 0);

    const predictStart = (model: string, position: number) => {
      const slots = totalSlots(model);
      if (slots > running.size && position === 0) return 0;
      return Math.round(((position + 1) * serviceMs) / Math.max(1, slots));
    };

    const reject = (error: ErrorEnvelope): AdmitOutcome => {
      metrics.tasksRejected.inc({ engine: "", reason: error.code });
      return { ok: false, error };
    };

    /** Places every queued task that fits now, in priority then arrival order. */
    const pump = () => {
      // One snapshot per pump; placements below update its lease counts in place.
      const pool = candidates();
      const hasFreeSlot = () => pool.some((c) => c.online && c.ready && !c.draining && c.leases < Math.max(1, c.slots_total));
      for (const p of ["interactive", "batch"] as const) {
        const queue = queues[p];
        for (let i = 0; i < queue.length && hasFreeSlot(); ) {
          const item = queue[i]!;
          const decision = place(pool, item.spec.model_ref);
          if (!decision.ok) {
            i++;
            continue;
          }
          const node = nodes.find((n) => n.node_id === decision.node_id)!;
          queue.splice(i, 1);
          const key = poolKey(decision.node_id, decision.pool_id);
          leases.set(key, (leases.get(key) ?? 0) + 1);
          pool.find((c) => c.node_id === decision.node_id && c.pool_id === decision.pool_id)!.leases++;
          running.set(item.spec.task_id, {
            ref: item.ref,
            node_id: decision.node_id,
            pool_id: decision.pool_id,
            startedAt: ctx.clock.now(),
          });
          log.debug("Placed a task", { job_id: item.spec.task_id, node_id: decision.node_id, pool_id: decision.pool_id });
          item.ref.tell({ type: "assigned", node_id: decision.node_id, pool_id: decision.pool_id, agent: node.agent });
        }
      }
      updateDepth();
    };

    const release = (taskId: string) => {
      const r = running.get(taskId);
      if (!r) return undefined;
      running.delete(taskId);
      const key = poolKey(r.node_id, r.pool_id);
      leases.set(key, Math.max(0, (leases.get(key) ?? 1) - 1));
      return r;
    };

    return {
      async receive(msg) {
        switch (msg.type) {
          case "admit": {
            const spec = msg.request;
            const modelKnown = nodes.some((n) => n.online && n.pools.some((p) => p.models_available.includes(spec.model_ref)));
            if (!modelKnown) {
              return reject({
                code: "MODEL_NOT_AVAILABLE",
                message: `no online node serves model '${spec.model_ref}'`,
                retriable: true,
                retry_after_ms: 1000,
              });
            }
            if (depth() >= options.capacity) {
              const retry = options.retryAfterMs ?? 1000;
              return reject({
                code: "ADMISSION_REJECT",
                message: `admission queue is full (${options.capacity})`,
                policy_label: "reject",
                retriable: true,
                retry_after_ms: retry,
              });
            }
            const queue = queues[spec.priority];
            const position = queue.length;
            const predicted = predictStart(spec.model_ref, position);
            let ref: TaskRef;
            try {
              ref = await startChild(options.tasks, {
                id: spec.task_id,
                restart: "temporary",
                start: options.taskFactory(spec, { queue_position: position, predicted_start_ms: predicted, correlation_id: msg.correlation_id }),
              });
            } catch {
              return reject({ code: "INVALID_PARAMS", message: `task_id ${spec.task_id} already exists` });
            }
            queue.push({ spec, ref, enqueuedAt: ctx.clock.now() });
            metrics.tasksEnqueued.inc({ engine: spec.engine ?? "", engine_version: "", pool_id: "", replica_id: "", priority: spec.priority });
            log.info(`Accepted request; queued at position ${position} (ETA ${predicted} ms)`, {
              job_id: spec.task_id,
              session_id: spec.session_id,
              correlation_id: msg.correlation_id,
              queue_position: position,
              predicted_start_ms: predicted,
            });
            pump();
            return {
              ok: true,
              admission: {
                task_id: spec.task_id,
                queue_position: position,
                predicted_start_ms: predicted,
                backoff_ms: 0,
                streams: {
                  sse: `/v2/tasks/${spec.task_id}/events`,
                  sse_verbose: `/v2/tasks/${spec.task_id}/events?verbose=true`,
                },
              },
            };
          }
          case "nodes":
            nodes = msg.nodes;
            pump();
            return;
          case "node-lost": {
            for (const [taskId, r] of running) {
              if (r.node_id !== msg.node_id) continue;
              release(taskId);
              r.ref.tell({
                type: "fail",
                error: {
                  code: "WORKER_RESET",
                  message: `node ${msg.node_id} was lost mid-task (${msg.reason})`,
                  retriable: true,
                  retry_after_ms: 1000,
                  pool_id: r.pool_id,
                },
              });
            }
            for (const key of [...leases.keys()]) if (key.startsWith(`${msg.node_id}/`)) leases.delete(key);
            pump();
            return;
          }
          case "task-ended": {
            for (const p of ["interactive", "batch"] as const) {
              const i = queues[p].findIndex((q) => q.spec.task_id === msg.task_id);
              if (i >= 0) queues[p].splice(i, 1);
            }
            const r = release(msg.task_id);
            if (r && msg.decode_ms !== undefined) {
              // Exponentially weighted service time feeds predicted_start_ms.
              serviceMs = 0.8 * serviceMs + 0.2 * Math.max(1, ctx.clock.now() - r.startedAt);
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
