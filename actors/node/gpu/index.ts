// The node's GPU side: the gpu-monitor actor, the host inventory and the GPU-only rule.

export { DEFAULT_GPU_INTERVAL_MS, GPU_MONITOR_ID, gpuMonitor, gpuMonitorSpec, type GpuMonitorOptions } from "./monitor.ts";
export {
  gpuGate,
  gpuInfo,
  hostInventory,
  nodeCapabilities,
  OS_HOST,
  sampledGpus,
  type GpuGate,
  type HostFacts,
  type HostInventory,
} from "./inventory.ts";
export type { GpuMonitorMsg, GpuMonitorRef, GpuMonitorReplies, GpuReportMsg, GpuReportRef } from "./protocol.ts";
