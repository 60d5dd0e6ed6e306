import type { ActorRef } from "../../../runtime/index.ts";
import type { NodeInfo, PoolView } from "../../../contract/index.ts";
import type { AgentRef, DeregisterMsg, HeartbeatMsg, RegisterMsg, RegisterReply } from "../../../contract/link.ts";

export type RegistryMsg =
  | RegisterMsg
  | HeartbeatMsg
  | DeregisterMsg
  /** A node link closed: every node registered over it is lost at once. */
  | { type: "link-down"; link_id: string; reason: string }
  | { type: "list" }
  /** Every node whose last snapshot holds the pool, online or not, with its agent (pools control). */
  | { type: "pool-agents"; pool_id: string }
  /** Private: periodic staleness check. */
  | { type: "sweep" };

export interface RegistryReplies {
  register: RegisterReply;
  heartbeat: { ok: boolean; next_heartbeat_ms: number };
  deregister: boolean;
  list: NodeInfo[];
  "pool-agents": PoolHolder[];
}

/** A node holding a pool, as pools control needs it; sorted by node_id. */
export interface PoolHolder {
  node_id: string;
  online: boolean;
  agent: AgentRef;
  /** The node's last snapshot of the pool. */
  pool: PoolView;
}

export type RegistryRef = ActorRef<RegistryMsg, RegistryReplies>;

/** What the scheduler sees of a node. */
export interface NodeEntry {
  node_id: string;
  online: boolean;
  /** Absent for nodes registered over REST: no task can be dispatched to them. */
  agent?: AgentRef;
  pools: PoolView[];
}
