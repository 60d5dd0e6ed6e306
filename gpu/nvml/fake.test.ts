// FakeGpuProbe follows the real probe's rules, and NvmlError names follow nvml.h.

import { expect, test } from "bun:test";
import { FakeGpuProbe } from "./fake.ts";
import { NVML, NvmlError, nvmlErrorName } from "./types.ts";

const GIB = 1024 ** 3;

test("NVML return codes map to nvml.h names; unknown codes read as UNKNOWN with the number kept", () => {
  expect(nvmlErrorName(1)).toBe("NVML_ERROR_UNINITIALIZED");
  expect(nvmlErrorName(3)).toBe("NVML_ERROR_NOT_SUPPORTED");
  expect(nvmlErrorName(7)).toBe("NVML_ERROR_INSUFFICIENT_SIZE");
  expect(nvmlErrorName(9)).toBe("NVML_ERROR_DRIVER_NOT_LOADED");
  expect(nvmlErrorName(12)).toBe("NVML_ERROR_LIBRARY_NOT_FOUND");
  expect(nvmlErrorName(13)).toBe("NVML_ERROR_FUNCTION_NOT_FOUND");
  expect(nvmlErrorName(15)).toBe("NVML_ERROR_GPU_IS_LOST");
  expect(nvmlErrorName(999)).toBe("NVML_ERROR_UNKNOWN");
  const odd = new NvmlError(4242, "nvmlDeviceGetName");
  expect(odd.name).toBe("NVML_ERROR_UNKNOWN");
  expect(odd.code).toBe(4242);
  expect(odd.message).toBe("nvmlDeviceGetName failed: NVML_ERROR_UNKNOWN (code 4242)");
  expect(new NvmlError(NVML.DRIVER_NOT_LOADED, "nvmlInit_v2")).toBeInstanceOf(Error);
});

test("a node with many simulated GPUs: defaults, specs, and settable VRAM and utilisation", () => {
  const probe = new FakeGpuProbe({ devices: 8, driver_version: "560.35.03" });
  const inv = probe.inventory();
  expect(inv.available).toBe(true);
  expect(inv.driver_version).toBe("560.35.03");
  expect(inv.devices).toHaveLength(8);
  expect(new Set(inv.devices.map((d) => d.uuid)).size).toBe(8);
  expect(inv.devices[7]).toEqual({
    index: 7,
    name: "NVIDIA GeForce RTX 3090",
    uuid: "GPU-fa4e0000-0000-4000-8000-000000000007",
    vram_total_bytes: 24 * GIB,
    vram_free_bytes: 24 * GIB,
    vram_used_bytes: 0,
    compute_capability: "8.6",
    utilization_gpu_percent: 0,
    utilization_memory_percent: 0,
  });

  probe.setVramUsed(3, 20 * GIB);
  probe.setUtilization(3, 95, 70);
  expect(probe.sample()[3]).toEqual({
    index: 3,
    vram_total_bytes: 24 * GIB,
    vram_free_bytes: 4 * GIB,
    vram_used_bytes: 20 * GIB,
    utilization_gpu_percent: 95,
    utilization_memory_percent: 70,
  });
  // The inventory hands out copies: changing them changes nothing in the probe.
  inv.devices[0]!.vram_used_bytes = 1;
  expect(probe.inventory().devices[0]!.vram_used_bytes).toBe(0);
});

test("mixed GPUs from specs; undefined utilisation reads as NOT_SUPPORTED", () => {
  const probe = new FakeGpuProbe({
    devices: [{}, { name: "NVIDIA GeForce RTX 3060", vram_total_bytes: 12 * GIB, vram_used_bytes: 2 * GIB, utilization_gpu_percent: undefined }],
  });
  const [, d1] = probe.inventory().devices;
  expect(d1).toEqual({
    index: 1,
    name: "NVIDIA GeForce RTX 3060",
    uuid: "GPU-fa4e0000-0000-4000-8000-000000000001",
    vram_total_bytes: 12 * GIB,
    vram_free_bytes: 10 * GIB,
    vram_used_bytes: 2 * GIB,
    compute_capability: "8.6",
  });
  probe.setUtilization(0, undefined);
  expect(probe.sample()[0]).toEqual({ index: 0, vram_total_bytes: 24 * GIB, vram_free_bytes: 24 * GIB, vram_used_bytes: 0 });
  expect(() => probe.setVramUsed(5, 1)).toThrow(/fake GPU 5 does not exist/);
});

test("an init failure or a missing library: zero GPUs with the reason", () => {
  expect(new FakeGpuProbe({ devices: 2, init_error: NVML.DRIVER_NOT_LOADED }).inventory()).toEqual({
    available: false,
    devices: [],
    reason: "nvmlInit_v2 failed: NVML_ERROR_DRIVER_NOT_LOADED",
  });
  const missing = new FakeGpuProbe({ unavailable: "libnvidia-ml.so.1 not found (is the NVIDIA driver installed?)" });
  expect(missing.inventory().reason).toBe("libnvidia-ml.so.1 not found (is the NVIDIA driver installed?)");
  expect(missing.sample()).toEqual([]);
  expect(new FakeGpuProbe({ devices: 0 }).inventory()).toEqual({
    available: false,
    driver_version: "550.54.15",
    devices: [],
    reason: "NVML found no GPU (driver 550.54.15)",
  });
});

test("a failed GPU leaves the inventory, makes sample() throw NvmlError, and can recover", () => {
  const probe = new FakeGpuProbe({ devices: 2 });
  probe.inventory();
  probe.failDevice(1);
  expect(() => probe.sample()).toThrow(NvmlError);
  try {
    probe.sample();
  } catch (err) {
    expect((err as NvmlError).code).toBe(NVML.GPU_IS_LOST);
    expect((err as NvmlError).name).toBe("NVML_ERROR_GPU_IS_LOST");
  }
  const inv = probe.inventory();
  expect(inv.devices.map((d) => d.index)).toEqual([0]);
  expect(inv.device_errors).toEqual([
    { index: 1, code: 15, name: "NVML_ERROR_GPU_IS_LOST", message: "nvmlDeviceGetMemoryInfo failed: NVML_ERROR_GPU_IS_LOST" },
  ]);
  // Sampling covers what the last inventory listed, so the node keeps measuring GPU 0.
  expect(probe.sample().map((s) => s.index)).toEqual([0]);

  probe.failDevice(0, NVML.UNKNOWN);
  const none = probe.inventory();
  expect(none.available).toBe(false);
  expect(none.reason).toBe("all 2 GPUs failed; GPU 0: nvmlDeviceGetMemoryInfo failed: NVML_ERROR_UNKNOWN");

  probe.recoverDevice(0);
  probe.recoverDevice(1);
  expect(probe.inventory().devices).toHaveLength(2);
});

test("after close(): unavailable, nothing sampled", () => {
  const probe = new FakeGpuProbe({ devices: 1 });
  probe.close();
  expect(probe.closed).toBe(true);
  expect(probe.inventory()).toEqual({ available: false, devices: [], reason: "NVML probe closed" });
  expect(probe.sample()).toEqual([]);
});
