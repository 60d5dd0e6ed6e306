import type { ActorRef, ReplyHandle } from "../../../runtime/index.ts";
import type { GpuInfo, PoolView } from "../../../contract/index.ts";
import type { RemoteEndpoint } from "../../../adapters/transport/index.ts";
import type { AgentLinkReplies, AgentMsg, PoolDrainReply, PoolPreloadReply, PoolPurgeReply, PoolReloadReply, RegisterReply } from "../../../contract/link.ts";
import type { GpuReportMsg } from "../gpu/protocol.ts";

/** Everything the agent handles: what control sends plus node-internal messages. */
export type AgentInternalMsg =
  | AgentMsg
  /** In-process, from the link keeper: a new link to the control plane is up. */
  | { type: "link-up"; endpoint: RemoteEndpoint }
  | { type: "link-down"; reason: string }
  | { type: "registered"; link_id: string; reply?: RegisterReply; error?: string }
  /** From a pool manager: its snapshot changed. */
  | { type: "pool-status"; snapshot: PoolView }
  /** From the gpu-monitor: a fresh GPU sample (kept for the next heartbeat) or a sampling error. */
  | GpuReportMsg
  /** Private: time to heartbeat. */
  | { type: "heartbeat-tick"; link_id: string }
  /** Private: a pool answered a drain, reload or preload; its snapshot is heartbeated before the reply. */
  | { type: "pool-op-done"; reply?: ReplyHandle<unknown>; result: PoolDrainReply | PoolReloadReply | PoolPreloadReply | PoolPurgeReply; snapshot?: PoolView }
  | { type: "status" }
  /** Deregisters and waits for the control plane's acknowledgement (graceful shutdown). */
  | { type: "leave" };

export interface AgentStatus {
  node_id: string;
  connected: boolean;
  registered: boolean;
  pools: PoolView[];
  /** The latest GPU sample; absent until the gpu-monitor has reported. */
  gpus?: GpuInfo[];
  /** The latest sampling error, until a sample succeeds again. */
  gpu_error?: string;
}

export interface AgentReplies extends AgentLinkReplies {
  status: AgentStatus;
  leave: boolean;
}

export type AgentInternalRef = ActorRef<AgentInternalMsg, AgentReplies>;
