// Pool manager: leases and readiness of one pool. Dispatches accepted requests to its replica
// and publishes a snapshot to the agent whenever something placement cares about changes.

import type { ActorFactory, Logger } from "../../../runtime/index.ts";
import type { PoolView } from "../../../adapters/http/schemas.ts";
import type { AgentInternalRef } from "../agent/protocol.ts";
import type { PoolMsg, ReplicaRef } from "./protocol.ts";

export interface PoolOptions {
  poolId: string;
  engine: string;
  models: string[];
  slots: number;
  agent: AgentInternalRef;
  replica: ReplicaRef;
  replicaId: string;
  log: Logger;
}

export function poolManager(options: PoolOptions): ActorFactory<PoolMsg> {
  return () => {
    const leases = new Set<string>();
    let ready = false;
    let engineVersion: string | undefined;
    let slotsTotal = options.slots;
    let lastError: string | undefined;

    const snapshot = (): PoolView => ({
      pool_id: options.poolId,
      ready,
      draining: false,
      engine: options.engine,
      engine_version: engineVersion,
      slots_total: slotsTotal,
      slots_free: Math.max(0, slotsTotal - leases.size),
      // Models present on the node, ready or not: a restarting pool still holds its model, so
      // tasks for it queue instead of being refused; placement checks readiness separately.
      models_available: options.models,
      last_error: lastError,
    });
    const publish = () => options.agent.tell({ type: "pool-status", snapshot: snapshot() });

    return {
      init() {
        publish();
      },
      receive(msg) {
        switch (msg.type) {
          case "dispatch": {
            const refuse = (message: string) =>
              msg.sink.tell({
                type: "engine-error",
                error: { code: "POOL_UNAVAILABLE", message, retriable: true, retry_after_ms: 1000, pool_id: options.poolId },
              });
            if (!ready) return void refuse(`pool ${options.poolId} is not ready`);
            if (leases.size >= slotsTotal) return void refuse(`pool ${options.poolId} has no free slot`);
            leases.add(msg.task_id);
            const sent = options.replica.tell({ type: "submit", task_id: msg.task_id, request: msg.request, sink: msg.sink });
            if (!sent.ok) {
              leases.delete(msg.task_id);
              return void refuse(`replica of pool ${options.poolId} is restarting`);
            }
            publish();
            return;
          }
          case "cancel":
            if (leases.has(msg.task_id)) options.replica.tell({ type: "cancel", task_id: msg.task_id });
            return;
          case "released":
            if (leases.delete(msg.task_id)) publish();
            return;
          case "replica-status": {
            const was = ready;
            ready = msg.ready;
            if (msg.engine_version) engineVersion = msg.engine_version;
            if (msg.slots_total) slotsTotal = msg.slots_total;
            lastError = msg.last_error;
            // A replica that went down dropped its requests; their slots are free again.
            if (!msg.ready) leases.clear();
            if (was !== ready) {
              options.log.info(ready ? `Pool ${options.poolId} is ready` : `Pool ${options.poolId} is not ready`, {
                pool_id: options.poolId,
                replica_id: msg.replica_id,
                engine_version: engineVersion,
                last_error: lastError,
              });
            }
            publish();
            return;
          }
          case "snapshot":
            return snapshot();
        }
      },
    };
  };
}
