// Messages that cross between the control plane and nodes. Payloads are plain data (plus refs),
// because every one of them is serialized by the transport.

import { z } from "zod";
import type { ActorRef } from "../../runtime/index.ts";
import { PoolView, type ErrorEnvelope } from "../../adapters/http/schemas.ts";
import type { EngineRequest } from "../../adapters/engines/index.ts";

export const REGISTRY_PATH = "control/registry";
export const AGENT_PATH = "node/agent";

/** Node → control registry. */
export const RegisterPayload = z.object({
  type: z.literal("register"),
  node_id: z.string().min(1).max(128),
  version: z.string().optional(),
  address: z.string().optional(),
  pools: z.array(PoolView),
  capabilities: z
    .object({ cpu_cores: z.number().int().optional(), ram_total_bytes: z.number().optional(), gpus: z.array(z.unknown()) })
    .optional(),
});
export const HeartbeatPayload = z.object({
  type: z.literal("heartbeat"),
  node_id: z.string().min(1),
  pools: z.array(PoolView),
});

export type RegisterMsg = z.infer<typeof RegisterPayload> & { agent: AgentRef };
export type HeartbeatMsg = z.infer<typeof HeartbeatPayload>;
export type DeregisterMsg = { type: "deregister"; node_id: string };

export interface RegisterReply {
  ok: boolean;
  heartbeat_ms: number;
  message: string;
}

/** Control → node agent. */
export type AgentMsg =
  | { type: "dispatch"; task_id: string; pool_id: string; request: EngineRequest; sink: TaskSinkRef }
  | { type: "cancel"; task_id: string; pool_id: string };

export type AgentRef = ActorRef<AgentMsg>;

/** Replica (node) → task (control): the engine's stream, in order. */
export type TaskEngineMsg =
  | {
      type: "engine-started";
      node_id: string;
      pool_id: string;
      replica_id: string;
      engine: string;
      engine_version: string;
      tokens_in?: number;
    }
  | { type: "engine-token"; t: string; i: number }
  | { type: "engine-end"; tokens_out: number; decode_ms: number; stop_reason: string }
  | { type: "engine-error"; error: ErrorEnvelope };

export type TaskSinkRef = ActorRef<TaskEngineMsg>;
