// Host inventory in wire shapes, and the GPU-only rule: which pools may start on which node, and
// the reason an operator reads when one may not.

import { describe, expect, test } from "bun:test";
import { NVML } from "../../../host/index.ts";
import { FakeGpuProbe } from "../../../tests/fixtures/nvml/index.ts";
import { gpuGate, hostInventory, nodeCapabilities, sampledGpus, type HostFacts } from "./inventory.ts";

const GIB = 1024 ** 3;
const HOST: HostFacts = { cpuCores: () => 16, ramTotalBytes: () => 64 * GIB };
const pool = (extra: { devices?: number[]; allow_cpu?: boolean } = {}) => ({ id: "p0", devices: [], allow_cpu: false, ...extra });

describe("gpuGate", () => {
  const noGpu = new FakeGpuProbe({ unavailable: "libnvidia-ml.so.1 not found" }).inventory();
  const twoGpus = new FakeGpuProbe({ devices: 2 }).inventory();

  test("a GPU pool on a node without GPUs does not start, and the reason names why", () => {
    const gate = gpuGate(pool(), noGpu);
    expect(gate.ok).toBe(false);
    if (gate.ok) return;
    expect(gate.reason).toContain("libnvidia-ml.so.1 not found");
    expect(gate.reason).toContain("pool p0 needs a GPU");
    expect(gate.reason).toContain("allow_cpu: true");
  });

  test("an NVML init failure is the reason too", () => {
    const inv = new FakeGpuProbe({ init_error: NVML.DRIVER_NOT_LOADED }).inventory();
    expect(gpuGate(pool(), inv)).toMatchObject({ ok: false, reason: expect.stringContaining("NVML_ERROR_DRIVER_NOT_LOADED") });
  });

  test("allow_cpu on a node without GPUs runs on the CPU, with the warning text", () => {
    expect(gpuGate(pool({ allow_cpu: true }), noGpu)).toEqual({
      ok: true,
      cpu: true,
      reason: "pool p0 runs on the CPU: no GPU on this node (libnvidia-ml.so.1 not found)",
    });
    // A device mask does not matter where there is no GPU at all.
    expect(gpuGate(pool({ allow_cpu: true, devices: [0] }), noGpu)).toMatchObject({ ok: true, cpu: true });
  });

  test("a node with GPUs runs GPU pools on them, also those that allow the CPU", () => {
    expect(gpuGate(pool(), twoGpus)).toEqual({ ok: true, cpu: false });
    expect(gpuGate(pool({ devices: [0, 1] }), twoGpus)).toEqual({ ok: true, cpu: false });
    expect(gpuGate(pool({ allow_cpu: true, devices: [1] }), twoGpus)).toEqual({ ok: true, cpu: false });
  });

  test("a device mask naming GPUs the node lacks is refused, naming them and what the node has", () => {
    expect(gpuGate(pool({ devices: [1, 3] }), twoGpus)).toEqual({ ok: false, reason: "pool p0 names GPU 3, but this node has GPU 0, 1" });
    expect(gpuGate(pool({ devices: [2], allow_cpu: true }), twoGpus)).toMatchObject({ ok: false });
  });

  test("a GPU that failed enumeration is missing, with its NVML error in the reason", () => {
    const probe = new FakeGpuProbe({ devices: 2 });
    probe.failDevice(1);
    const gate = gpuGate(pool({ devices: [1] }), probe.inventory());
    expect(gate).toMatchObject({ ok: false, reason: expect.stringContaining("GPU 1: nvmlDeviceGetMemoryInfo failed: NVML_ERROR_GPU_IS_LOST") });
    expect(gpuGate(pool({ devices: [0] }), probe.inventory())).toEqual({ ok: true, cpu: false });
  });

  test("every GPU failed: no GPU, with the failure as the reason", () => {
    const probe = new FakeGpuProbe({ devices: 1 });
    probe.failDevice(0);
    expect(gpuGate(pool(), probe.inventory())).toMatchObject({ ok: false, reason: expect.stringContaining("all 1 GPUs failed") });
  });
});

describe("inventory in wire shapes", () => {
  test("capabilities carry GPUs, cores, RAM and driver", () => {
    const probe = new FakeGpuProbe({ devices: [{ name: "NVIDIA GeForce RTX 3060", vram_total_bytes: 12 * GIB, vram_used_bytes: GIB, utilization_gpu_percent: 5 }] });
    expect(nodeCapabilities(hostInventory(probe, HOST))).toEqual({
      gpus: [
        {
          index: 0,
          name: "NVIDIA GeForce RTX 3060",
          uuid: "GPU-fa4e0000-0000-4000-8000-000000000000",
          vram_total_bytes: 12 * GIB,
          vram_free_bytes: 11 * GIB,
          vram_used_bytes: GIB,
          compute_capability: "8.6",
          utilization_gpu_percent: 5,
        },
      ],
      cpu_cores: 16,
      ram_total_bytes: 64 * GIB,
      driver_version: "550.54.15",
    });
  });

  test("without GPUs (or without a probe) the capabilities say why", () => {
    const caps = nodeCapabilities(hostInventory(new FakeGpuProbe({ unavailable: "libnvidia-ml.so.1 not found" }), HOST));
    expect(caps).toEqual({ gpus: [], cpu_cores: 16, ram_total_bytes: 64 * GIB, gpu_reason: "libnvidia-ml.so.1 not found" });
    expect(nodeCapabilities(hostInventory(undefined, HOST)).gpu_reason).toBe("no GPU probe configured");
  });

  test("the real host has at least one core and some RAM", () => {
    const inv = hostInventory(undefined);
    expect(inv.cpu_cores).toBeGreaterThan(0);
    expect(inv.ram_total_bytes).toBeGreaterThan(0);
  });

  test("a sample updates VRAM and utilisation, keeps names, and leaves out devices it lacks", () => {
    const probe = new FakeGpuProbe({ devices: 2 });
    const devices = probe.inventory().devices;
    probe.setVramUsed(1, 3 * GIB);
    probe.setUtilization(1, undefined);
    const [, second] = probe.sample();
    const gpus = sampledGpus(devices, [second!]);
    expect(gpus).toEqual([
      {
        index: 1,
        name: "NVIDIA GeForce RTX 3090",
        uuid: "GPU-fa4e0000-0000-4000-8000-000000000001",
        vram_total_bytes: 24 * GIB,
        vram_free_bytes: 21 * GIB,
        vram_used_bytes: 3 * GIB,
        compute_capability: "8.6",
      },
    ]);
  });
});
