// gpu-monitor: the node's GPU sampler. Takes the inventory when it starts, then every interval
// reads VRAM and utilisation through the probe, publishes gpu_utilization / vram_used_bytes /
// vram_total_bytes per device and hands the sample to the agent, which sends it with the next
// heartbeat. A driver error (NvmlError) is reported to the agent and logged once per kind; the
// inventory is then retaken so the devices still answering keep being sampled, and a device that
// recovers comes back.

import type { ActorFactory, ChildSpec, Logger } from "../../../runtime/index.ts";
import type { GpuInfo } from "../../../contract/index.ts";
import type { NodeMetrics } from "../../../adapters/metrics/index.ts";
import { NvmlError, type GpuProbe, type GpuSample } from "../../../host/index.ts";
import { hostInventory, sampledGpus, type HostFacts, type HostInventory } from "./inventory.ts";
import type { GpuMonitorMsg, GpuReportRef } from "./protocol.ts";

/** POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS's default; also the heartbeat's default period. */
export const DEFAULT_GPU_INTERVAL_MS = 10_000;
export const GPU_MONITOR_ID = "gpu";

export interface GpuMonitorOptions {
  probe: GpuProbe;
  intervalMs?: number;
  /** Told `gpu-sample` or `gpu-error` once per interval. */
  agent: GpuReportRef;
  metrics?: NodeMetrics;
  nodeId: string;
  log: Logger;
  host?: HostFacts;
}

export function gpuMonitor(options: GpuMonitorOptions): ActorFactory<GpuMonitorMsg> {
  return (ctx) => {
    const { probe, agent, metrics, nodeId } = options;
    const log = options.log.child({ actor: "gpu-monitor" });
    const intervalMs = options.intervalMs ?? DEFAULT_GPU_INTERVAL_MS;
    let inv: HostInventory;
    let inventoryKey = "";
    /** After a failed sample the device list is stale: enumerate again before sampling. */
    let retake = false;
    /** NVML error names logged since the last good sample, so a dead GPU does not flood the log. */
    const logged = new Set<string>();
    /** Device labels with published series, to remove those of GPUs that left. */
    let published = new Set<string>();

    const take = () => {
      inv = hostInventory(probe, options.host);
      const { gpu } = inv;
      // Logged when what the node sees changes, not at every retake.
      const key = JSON.stringify([gpu.reason, gpu.devices.map((d) => d.uuid), gpu.device_errors?.map((e) => [e.index, e.name])]);
      if (key === inventoryKey) return;
      inventoryKey = key;
      if (!gpu.available) log.warn(`No GPU on this node: ${gpu.reason}`, { reason: gpu.reason });
      else {
        log.info(`Found ${gpu.devices.length} GPU(s), driver ${gpu.driver_version}`, {
          driver_version: gpu.driver_version,
          devices: gpu.devices.map((d) => ({ index: d.index, name: d.name, uuid: d.uuid, vram_total_bytes: d.vram_total_bytes })),
        });
      }
      for (const e of gpu.device_errors ?? []) log.error(`GPU ${e.index} left out: ${e.message}`, { device: e.index, code: e.name });
    };

    const publish = (gpus: GpuInfo[]) => {
      if (!metrics) return;
      const now = new Set<string>();
      for (const g of gpus) {
        const l = { node_id: nodeId, device: String(g.index) };
        now.add(l.device);
        metrics.vramUsed.set(l, g.vram_used_bytes ?? 0);
        metrics.vramDeviceTotal.set(l, g.vram_total_bytes);
        // NOT_SUPPORTED (MIG, some boards): no sample rather than a false 0 %.
        if (g.utilization_gpu_percent === undefined) metrics.gpuUtilization.remove(l);
        else metrics.gpuUtilization.set(l, g.utilization_gpu_percent);
      }
      for (const device of published) {
        if (now.has(device)) continue;
        const l = { node_id: nodeId, device };
        metrics.vramUsed.remove(l);
        metrics.vramDeviceTotal.remove(l);
        metrics.gpuUtilization.remove(l);
      }
      published = now;
    };

    const sample = () => {
      // Failed devices are retried at every interval, so one that recovers is sampled again.
      if (retake || inv.gpu.device_errors) take();
      let samples: GpuSample[];
      try {
        samples = probe.sample();
      } catch (error) {
        if (!(error instanceof NvmlError)) throw error;
        retake = true;
        if (!logged.has(error.name)) {
          logged.add(error.name);
          log.error(`GPU sampling failed: ${error.message}`, { code: error.name, call: error.call });
        }
        agent.tell({ type: "gpu-error", message: error.message });
        return;
      }
      retake = false;
      if (logged.size > 0) {
        log.info("GPU sampling works again", { errors: [...logged] });
        logged.clear();
      }
      const gpus = sampledGpus(inv.gpu.devices, samples);
      publish(gpus);
      // A GPU that stopped answering is left out of the list, but it is still a fault: the pools
      // must not look healthy because the lost device is no longer sampled.
      const lost = inv.gpu.device_errors?.[0];
      if (lost) {
        agent.tell({ type: "gpu-error", message: `GPU ${lost.index}: ${lost.message}` });
        return;
      }
      // A full mailbox drops nothing important: the next interval brings a fresher sample.
      agent.tell({ type: "gpu-sample", gpus });
    };

    return {
      init() {
        take();
        // The first sample goes out at once so the agent has GPUs before its first heartbeat.
        ctx.self.tell({ type: "gpu-tick" });
      },
      receive(msg) {
        switch (msg.type) {
          case "inventory":
            return inv;
          case "gpu-tick":
            sample();
            ctx.after(intervalMs, { type: "gpu-tick" });
            return;
        }
      },
      terminate(reason) {
        // After a crash the supervisor restarts this actor with the same probe, so it stays open;
        // any other stop is final and releases the NVML init reference.
        if (reason.kind !== "failed") probe.close();
      },
    };
  };
}

/** The monitor as a child of the node supervisor (path `<parent>/gpu`). */
export function gpuMonitorSpec(options: GpuMonitorOptions): ChildSpec {
  return { id: GPU_MONITOR_ID, start: gpuMonitor(options), restart: "permanent" };
}
