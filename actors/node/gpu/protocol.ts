// The gpu-monitor's protocol: what it answers, and what it reports to the node agent.

import type { ActorRef } from "../../../runtime/index.ts";
import type { GpuInfo } from "../../../contract/index.ts";
import type { HostInventory } from "./inventory.ts";

export type GpuMonitorMsg =
  /** The current inventory (GPUs as last enumerated, CPU cores, RAM). */
  | { type: "inventory" }
  /** Private: time to sample. */
  | { type: "gpu-tick" };

export interface GpuMonitorReplies {
  inventory: HostInventory;
}

export type GpuMonitorRef = ActorRef<GpuMonitorMsg, GpuMonitorReplies>;

/** Monitor → agent, every interval: one or the other. */
export type GpuReportMsg =
  /** The GPUs that answered, with fresh VRAM and utilisation; rides on the next heartbeat. */
  | { type: "gpu-sample"; gpus: GpuInfo[] }
  /** Sampling failed (a driver error such as GPU_IS_LOST); the inventory is retaken next time. */
  | { type: "gpu-error"; message: string };

export type GpuReportRef = ActorRef<GpuReportMsg, any>;
