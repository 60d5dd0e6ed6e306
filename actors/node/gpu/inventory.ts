// What a node has to offer (GPUs from the probe, CPU cores, RAM) in the wire shapes of
// registration and heartbeats, and the GPU-only rule (contract: inference runs on NVIDIA GPUs; a
// pool may use the CPU only with `allow_cpu: true`, and then the node logs a warning).

import { availableParallelism, totalmem } from "node:os";
import type { GpuInfo, NodeCapabilities } from "../../../contract/index.ts";
import type { GpuDevice, GpuInventory, GpuProbe, GpuSample } from "../../../host/index.ts";
import type { PoolConfig } from "../config.ts";

export interface HostInventory {
  gpu: GpuInventory;
  cpu_cores: number;
  ram_total_bytes: number;
}

/** The host's side, injectable so tests do not depend on the machine they run on. */
export interface HostFacts {
  cpuCores(): number;
  ramTotalBytes(): number;
}

export const OS_HOST: HostFacts = { cpuCores: availableParallelism, ramTotalBytes: totalmem };

/** Takes the GPU inventory (never throws, see GpuProbe) and the host's cores and memory. */
export function hostInventory(probe: GpuProbe | undefined, host: HostFacts = OS_HOST): HostInventory {
  const gpu: GpuInventory = probe?.inventory() ?? { available: false, devices: [], reason: "no GPU probe configured" };
  return { gpu, cpu_cores: host.cpuCores(), ram_total_bytes: host.ramTotalBytes() };
}

/** The wire shape of one GPU. */
export function gpuInfo(d: GpuDevice): GpuInfo {
  return {
    index: d.index,
    name: d.name,
    uuid: d.uuid,
    vram_total_bytes: d.vram_total_bytes,
    vram_free_bytes: d.vram_free_bytes,
    vram_used_bytes: d.vram_used_bytes,
    compute_capability: d.compute_capability,
    ...(d.utilization_gpu_percent !== undefined ? { utilization_gpu_percent: d.utilization_gpu_percent } : {}),
  };
}

/**
 * The inventory's devices updated with a sample's VRAM and utilisation. Devices the sample does
 * not cover (they failed since) are left out: heartbeats list only GPUs that answer.
 */
export function sampledGpus(devices: readonly GpuDevice[], samples: readonly GpuSample[]): GpuInfo[] {
  const byIndex = new Map(devices.map((d) => [d.index, d]));
  const out: GpuInfo[] = [];
  for (const s of samples) {
    const d = byIndex.get(s.index);
    if (!d) continue;
    const { utilization_gpu_percent: _u, ...rest } = gpuInfo(d);
    out.push({
      ...rest,
      vram_total_bytes: s.vram_total_bytes,
      vram_free_bytes: s.vram_free_bytes,
      vram_used_bytes: s.vram_used_bytes,
      ...(s.utilization_gpu_percent !== undefined ? { utilization_gpu_percent: s.utilization_gpu_percent } : {}),
    });
  }
  return out;
}

/** Registration's `capabilities`; `gpus` (the latest sample) wins over the inventory's devices. */
export function nodeCapabilities(inv: HostInventory, gpus?: GpuInfo[]): NodeCapabilities {
  return {
    gpus: gpus ?? inv.gpu.devices.map(gpuInfo),
    cpu_cores: inv.cpu_cores,
    ram_total_bytes: inv.ram_total_bytes,
    ...(inv.gpu.driver_version !== undefined ? { driver_version: inv.gpu.driver_version } : {}),
    ...(inv.gpu.reason !== undefined ? { gpu_reason: inv.gpu.reason.slice(0, 512) } : {}),
  };
}

export type GpuGate =
  /** `cpu`: the pool runs on the CPU (allowed, no GPU here); the caller logs `reason` as a warning once. */
  | { ok: true; cpu: false }
  | { ok: true; cpu: true; reason: string }
  /** The pool must not start; `reason` says why, for the pool's last_error and the log. */
  | { ok: false; reason: string };

/**
 * The GPU-only rule for one pool on this node. A pool naming GPU indexes the node lacks is refused
 * even with allow_cpu when the node has GPUs, since the config then points at the wrong devices;
 * on a node without any GPU, allow_cpu lets it run on the CPU whatever its device mask says.
 */
export function gpuGate(pool: Pick<PoolConfig, "id" | "devices" | "allow_cpu">, inv: GpuInventory): GpuGate {
  if (!inv.available || inv.devices.length === 0) {
    const why = inv.reason ?? "NVML reports no GPU";
    if (pool.allow_cpu) return { ok: true, cpu: true, reason: `pool ${pool.id} runs on the CPU: no GPU on this node (${why})` };
    return { ok: false, reason: `pool ${pool.id} needs a GPU and this node has none: ${why}; set allow_cpu: true to run it on the CPU` };
  }
  const have = new Set(inv.devices.map((d) => d.index));
  const missing = pool.devices.filter((i) => !have.has(i));
  if (missing.length > 0) {
    const failed = missing.map((i) => inv.device_errors?.find((e) => e.index === i)).filter((e) => e !== undefined);
    const detail = failed.length > 0 ? `; ${failed.map((e) => `GPU ${e.index}: ${e.message}`).join("; ")}` : "";
    const listed = [...have].sort((a, b) => a - b).join(", ");
    return {
      ok: false,
      reason: `pool ${pool.id} names GPU ${missing.join(", ")}, but this node has GPU ${listed}${detail}`,
    };
  }
  return { ok: true, cpu: false };
}
