// Assembles the control plane's actor tree and the port the HTTP surface uses.
//
//   control (one_for_one)
//   ├─ tasks       supervisor of one temporary task actor per job
//   ├─ scheduler   admission queue, placement, leases
//   └─ registry    node membership

import {
  ActorStoppedError,
  ActorSystem,
  RuntimeError,
  supervisor,
  type Clock,
  type Logger,
  type SupervisorRef,
} from "../../runtime/index.ts";
import type { ControlPort, StreamSink } from "../../adapters/http/port.ts";
import type { TaskSpec } from "../../adapters/http/schemas.ts";
import { createControlMetrics, type ControlMetrics } from "../../adapters/metrics/index.ts";
import { RemoteEndpoint, type Link } from "../../adapters/transport/index.ts";
import { REGISTRY_PATH } from "../link/protocol.ts";
import type { RegistryRef } from "./registry/protocol.ts";
import { nodeRegistry } from "./registry/registry.ts";
import type { SchedulerRef } from "./scheduler/protocol.ts";
import { scheduler } from "./scheduler/scheduler.ts";
import type { TaskRef } from "./task/protocol.ts";
import { taskActor } from "./task/task.ts";

export interface ControlPlaneOptions {
  log: Logger;
  clock?: Clock;
  random?: () => number;
  /** Admission queue capacity (ORCHD_ADMISSION_CAPACITY). */
  capacity?: number;
  /** ORCHESTRATORD_NODE_TIMEOUT_MS. */
  nodeTimeoutMs?: number;
  /** Heartbeat interval nodes are told to use. */
  heartbeatMs?: number;
  /** How long an ended task stays available for late subscribers. */
  taskRetentionMs?: number;
}

export interface ControlPlane {
  system: ActorSystem;
  port: ControlPort;
  metrics: ControlMetrics;
  /** Binds a node link (WebSocket or in-memory) to this control plane. */
  acceptLink(link: Link): RemoteEndpoint;
  shutdown(): Promise<void>;
}

export const CONTROL_DEFAULTS = {
  capacity: 256,
  nodeTimeoutMs: 30_000,
  heartbeatMs: 10_000,
  taskRetentionMs: 60_000,
};

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const system = new ActorSystem({ name: "control", clock: options.clock, random: options.random });
  const metrics = createControlMetrics();
  const log = options.log;
  system.events.on((e) => {
    if (e.type === "dead-letter") metrics.deadLetters.inc({ reason: e.reason });
    if (e.type === "failed") log.error(`Actor ${e.path} failed: ${e.error}`, { actor: e.path });
  });
  const nodeTimeoutMs = options.nodeTimeoutMs ?? CONTROL_DEFAULTS.nodeTimeoutMs;
  const tasks = system.ref("control/tasks") as SupervisorRef;
  const schedulerRef: SchedulerRef = system.ref("control/scheduler");
  const registry: RegistryRef = system.ref(REGISTRY_PATH);

  const taskFactory = (spec: TaskSpec, admission: Parameters<typeof taskActor>[2]) =>
    taskActor({ scheduler: schedulerRef, log, metrics, retentionMs: options.taskRetentionMs ?? CONTROL_DEFAULTS.taskRetentionMs }, spec, admission);

  await system.spawn(
    "control",
    supervisor({
      strategy: "one_for_one",
      intensity: { maxRestarts: 5, periodMs: 10_000 },
      children: [
        { id: "tasks", start: supervisor({ strategy: "one_for_one" }), mailbox: { capacity: 10_000 } },
        {
          id: "scheduler",
          start: scheduler({ tasks, taskFactory, log, metrics, capacity: options.capacity ?? CONTROL_DEFAULTS.capacity }),
          mailbox: { capacity: 10_000 },
        },
        {
          id: "registry",
          start: nodeRegistry({
            scheduler: schedulerRef,
            log,
            metrics,
            nodeTimeoutMs,
            // Nodes must beat well inside the timeout, or a short timeout makes them flap.
            heartbeatMs: options.heartbeatMs ?? Math.max(100, Math.min(CONTROL_DEFAULTS.heartbeatMs, Math.floor(nodeTimeoutMs / 3))),
            sweepMs: Math.max(50, Math.min(10_000, Math.floor(nodeTimeoutMs / 3))),
          }),
          mailbox: { capacity: 10_000 },
        },
      ],
    }),
  );

  const taskRef = (id: string): TaskRef => system.ref(`control/tasks/${id}`);
  const stopped = (e: unknown) => e instanceof ActorStoppedError || (e instanceof RuntimeError && e.code === "ACTOR_STOPPED");

  const port: ControlPort = {
    async submit(request, meta) {
      const spec: TaskSpec = { ...request, task_id: request.task_id ?? crypto.randomUUID() };
      return schedulerRef.ask({ type: "admit", request: spec, correlation_id: meta.correlationId });
    },
    async subscribe(taskId: string, sink: StreamSink) {
      const ref = taskRef(taskId);
      try {
        await ref.ask({ type: "subscribe", sink });
      } catch (e) {
        if (stopped(e)) return undefined;
        throw e;
      }
      return {
        unsubscribe: (opts = {}) => void ref.tell({ type: "unsubscribe", sink, cancel_if_last: opts.cancelIfLast }),
      };
    },
    async cancel(taskId, reason) {
      try {
        return await taskRef(taskId).ask({ type: "cancel", reason });
      } catch (e) {
        if (stopped(e)) return "unknown";
        throw e;
      }
    },
    nodes: () => registry.ask({ type: "list" }),
    async ready() {
      if (!system.isAlive("control")) return { ready: false, nodes_online: 0 };
      const nodes = await registry.ask({ type: "list" }).catch(() => []);
      return { ready: true, nodes_online: nodes.filter((n) => n.status === "Online").length };
    },
  };

  return {
    system,
    port,
    metrics,
    acceptLink(link) {
      const endpoint = new RemoteEndpoint(system, link, { exports: [REGISTRY_PATH, "control/tasks/"] });
      endpoint.onClose((reason) => registry.tell({ type: "link-down", link_id: endpoint.id, reason }));
      return endpoint;
    },
    shutdown: () => system.shutdown(),
  };
}
