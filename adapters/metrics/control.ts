// Control-plane metrics (names and labels from the digest's §12.1). One registry per control
// plane instance, never prom-client's global one, so clusters in one test process stay apart.

import { Counter, Gauge, Histogram, Registry } from "prom-client";

const TASK_LABELS = ["engine", "engine_version", "pool_id", "replica_id", "priority"] as const;

export function createControlMetrics(registry = new Registry()) {
  const m = {
    registry,
    tasksEnqueued: new Counter({ name: "tasks_enqueued_total", help: "Tasks admitted into a queue", labelNames: TASK_LABELS, registers: [registry] }),
    tasksStarted: new Counter({ name: "tasks_started_total", help: "Tasks whose engine started generating", labelNames: TASK_LABELS, registers: [registry] }),
    tasksCanceled: new Counter({
      name: "tasks_canceled_total",
      help: "Tasks canceled",
      labelNames: ["engine", "engine_version", "pool_id", "replica_id", "reason"] as const,
      registers: [registry],
    }),
    tasksRejected: new Counter({ name: "tasks_rejected_total", help: "Tasks refused at admission", labelNames: ["engine", "reason"] as const, registers: [registry] }),
    queueDepth: new Gauge({ name: "queue_depth", help: "Tasks waiting in the admission queue", labelNames: ["engine", "engine_version", "pool_id", "priority"] as const, registers: [registry] }),
    tokensOut: new Counter({ name: "tokens_out_total", help: "Tokens streamed to clients", labelNames: ["engine", "engine_version", "pool_id", "replica_id"] as const, registers: [registry] }),
    firstToken: new Histogram({
      name: "latency_first_token_ms",
      help: "Admission to first token",
      labelNames: ["engine", "engine_version", "pool_id", "priority"] as const,
      buckets: [50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000],
      registers: [registry],
    }),
    decode: new Histogram({
      name: "latency_decode_ms",
      help: "Decode time per task",
      labelNames: ["engine", "engine_version", "pool_id", "priority"] as const,
      buckets: [250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000],
      registers: [registry],
    }),
    nodesOnline: new Gauge({ name: "orchd_nodes_online", help: "Nodes currently online", registers: [registry] }),
    nodeRegistrations: new Counter({ name: "orchd_node_registrations_total", help: "Node registrations", labelNames: ["outcome"] as const, registers: [registry] }),
    nodeHeartbeats: new Counter({ name: "orchd_node_heartbeats_total", help: "Node heartbeats", labelNames: ["node_id", "outcome"] as const, registers: [registry] }),
    nodeDeregistrations: new Counter({ name: "orchd_node_deregistrations_total", help: "Node deregistrations and losses", labelNames: ["outcome"] as const, registers: [registry] }),
    deadLetters: new Counter({ name: "actor_dead_letters_total", help: "Actor messages not delivered", labelNames: ["reason"] as const, registers: [registry] }),
  };
  return m;
}

export type ControlMetrics = ReturnType<typeof createControlMetrics>;
