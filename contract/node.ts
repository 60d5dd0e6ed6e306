// Nodes on the wire: GPUs, capabilities, the node listing, and the registry's REST mirror
// (register, heartbeat, deregister) for tools and nodes written elsewhere. Nodes that serve tasks
// use the node link (link.ts); a node registered only over REST is listed (and counts for
// availability) but is never given a task (docs/contract.md#nodes).

import { z } from "zod";
import { Id } from "./ids.ts";
import { PoolView } from "./pool.ts";

/** One GPU as a node reports it (NVML inventory, plus the latest sample in heartbeats). */
export const GpuInfo = z.object({
  index: z.number().int().min(0),
  name: z.string().max(256),
  uuid: z.string().max(256).optional(),
  vram_total_bytes: z.number().int().min(0),
  vram_free_bytes: z.number().int().min(0).optional(),
  vram_used_bytes: z.number().int().min(0).optional(),
  compute_capability: z.string().max(16).optional(),
  /** Percent; absent when the device does not report it. */
  utilization_gpu_percent: z.number().min(0).max(100).optional(),
});
export type GpuInfo = z.infer<typeof GpuInfo>;

export const NodeCapabilities = z.object({
  gpus: z.array(GpuInfo).max(64),
  cpu_cores: z.number().int().min(0).optional(),
  ram_total_bytes: z.number().int().min(0).optional(),
  driver_version: z.string().max(64).optional(),
  /** Why the node sees no GPU (no driver, NVML failed...), when it sees none. */
  gpu_reason: z.string().max(512).optional(),
});
export type NodeCapabilities = z.infer<typeof NodeCapabilities>;

export const NodeStatus = z.enum(["Registering", "Online", "Draining", "Offline", "Failed"]);
export type NodeStatus = z.infer<typeof NodeStatus>;

export const NodeInfo = z.object({
  node_id: z.string(),
  machine_id: z.string().optional(),
  address: z.string().optional(),
  version: z.string().optional(),
  capabilities: NodeCapabilities.optional(),
  /** Whether the node is connected over the node link (only such nodes receive tasks). */
  linked: z.boolean(),
  status: NodeStatus,
  registered_at_ms: z.number().int(),
  last_heartbeat_ms: z.number().int(),
  pools: z.array(PoolView),
});
export type NodeInfo = z.infer<typeof NodeInfo>;


/** A pool as REST clients send it: a bare id (upstream's `pools:["pool-0"]`) or a snapshot. */
const PoolIn = z.union([
  z.string().min(1).max(128),
  z
    .object({
      pool_id: Id,
      ready: z.boolean(),
      draining: z.boolean().default(false),
      slots_free: z.number().int().min(0).default(0),
      slots_total: z.number().int().min(0).default(0),
      vram_free_bytes: z.number().int().min(0).optional(),
      vram_total_bytes: z.number().int().min(0).optional(),
      engine: z.string().max(64).default("unknown"),
      engine_version: z.string().max(128).optional(),
      models_available: z.array(z.string().max(1024)).max(256).default([]),
      ctx_max: z.number().int().min(1).optional(),
    })
    .strict(),
]);

export const RegisterRequest = z
  .object({
    node_id: Id,
    machine_id: z.string().max(128).optional(),
    address: z.string().max(512).optional(),
    version: z.string().max(64).optional(),
    pools: z.array(PoolIn).max(256),
    capabilities: NodeCapabilities.optional(),
  })
  .strict();
export type RegisterRequest = z.infer<typeof RegisterRequest>;

export const HeartbeatRequest = z
  .object({
    timestamp: z.string().max(64).optional(),
    pools: z.array(PoolIn).max(256),
    gpus: z.array(GpuInfo).max(64).optional(),
  })
  .strict();
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;

export const RegisterResponse = z.object({ success: z.boolean(), message: z.string(), node_id: z.string() });
export const HeartbeatResponse = z.object({ success: z.boolean(), next_heartbeat_ms: z.number().int() });

/** The registry's PoolView from what a REST client sent. */
export function toPoolView(p: z.infer<typeof PoolIn>): PoolView {
  if (typeof p === "string") {
    return { pool_id: p, ready: false, draining: false, engine: "unknown", slots_total: 0, slots_free: 0, models_available: [] };
  }
  return PoolView.parse(p);
}

export interface NodesPort {
  list(): Promise<NodeInfo[]>;
  register(request: RegisterRequest): Promise<{ ok: boolean; message: string }>;
  /** Undefined when the node is unknown; "linked" when a node link speaks for it (REST may not). */
  heartbeat(nodeId: string, request: HeartbeatRequest): Promise<{ next_heartbeat_ms: number } | "linked" | undefined>;
  /** False when the node is unknown; "linked" when a live node link speaks for it. */
  deregister(nodeId: string): Promise<boolean | "linked">;
}
