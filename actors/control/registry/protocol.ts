import type { ActorRef } from "../../../runtime/index.ts";
import type { NodeInfo, PoolView } from "../../../contract/index.ts";
import type { AgentRef, DeregisterMsg, HeartbeatMsg, RegisterMsg, RegisterReply } from "../../../contract/link.ts";

/**
 * `link_id`: set by the node link's gate (never by the node) on the messages that come over a
 * link after its registration; absent for the REST mirror.
 */
export type RegistryMsg =
  | RegisterMsg
  | (HeartbeatMsg & { link_id?: string })
  | (DeregisterMsg & { link_id?: string })
  /** A node link closed: every node registered over it is lost at once. */
  | { type: "link-down"; link_id: string; reason: string }
  | { type: "list" }
  /** Every node whose last snapshot holds the pool, online or not, with its agent (pools control). */
  | { type: "pool-agents"; pool_id: string }
  /** Every pool (with its node's agent) whose last snapshot lists the model (embeddings). */
  | { type: "model-holders"; model: string }
  /** Private: periodic staleness check. */
  | { type: "sweep" };

export interface RegistryReplies {
  register: RegisterReply;
  /** `linked`: refused because a live node link speaks for the node (a REST heartbeat). */
  heartbeat: { ok: boolean; next_heartbeat_ms: number; linked?: boolean };
  /** False for an unknown node (or one this link does not speak for); "linked": a REST deregistration of a node a live link speaks for. */
  deregister: boolean | "linked";
  list: NodeInfo[];
  "pool-agents": PoolHolder[];
  "model-holders": PoolHolder[];
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
  /** The node link the node registered over (absent for REST and in-process agents). */
  link_id?: string;
  pools: PoolView[];
}
