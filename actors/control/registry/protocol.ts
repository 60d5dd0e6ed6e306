import type { ActorRef } from "../../../runtime/index.ts";
import type { NodeInfo, PoolView } from "../../../adapters/http/schemas.ts";
import type { AgentRef, DeregisterMsg, HeartbeatMsg, RegisterMsg, RegisterReply } from "../../link/protocol.ts";

export type RegistryMsg =
  | RegisterMsg
  | HeartbeatMsg
  | DeregisterMsg
  /** A node link closed: every node registered over it is lost at once. */
  | { type: "link-down"; link_id: string; reason: string }
  | { type: "list" }
  /** Private: periodic staleness check. */
  | { type: "sweep" };

export interface RegistryReplies {
  register: RegisterReply;
  heartbeat: { ok: boolean; next_heartbeat_ms: number };
  deregister: boolean;
  list: NodeInfo[];
}

export type RegistryRef = ActorRef<RegistryMsg, RegistryReplies>;

/** What the scheduler sees of a node. */
export interface NodeEntry {
  node_id: string;
  online: boolean;
  agent: AgentRef;
  pools: PoolView[];
}
