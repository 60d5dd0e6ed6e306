// The real bun:ffi binding against the fake NVML library (fake-nvml.c built with gcc): inventory,
// sampling, utilisation NOT_SUPPORTED, init reference counting and the memory v2 struct layout.
// Error paths live in ffi-errors.test.ts. Skips itself, saying so, when gcc is absent.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { buildFakeNvml, canBuildFakeNvml } from "../../tests/fixtures/nvml/build-fake.ts";
import { openFakeNvmlControl, type FakeNvmlControl } from "../../tests/fixtures/nvml/fake-control.ts";
import { DEFAULT_NVML_LIBRARY, nvmlLibraryPath, openNvml } from "./ffi.ts";
import type { GpuProbe } from "./types.ts";

const GIB = 1024 ** 3;
const haveGcc = canBuildFakeNvml();
if (!haveGcc) console.warn("host/nvml/ffi.test.ts: skipped, gcc is not on PATH to build the fake NVML library");

test("library path: option, then NVML_LIBRARY_PATH, then libnvidia-ml.so.1", () => {
  expect(nvmlLibraryPath({ libraryPath: "/opt/a.so", env: { NVML_LIBRARY_PATH: "/opt/b.so" } })).toBe("/opt/a.so");
  expect(nvmlLibraryPath({ env: { NVML_LIBRARY_PATH: "/opt/b.so" } })).toBe("/opt/b.so");
  expect(nvmlLibraryPath({ env: {} })).toBe(DEFAULT_NVML_LIBRARY);
  expect(DEFAULT_NVML_LIBRARY).toBe("libnvidia-ml.so.1");
});

describe.skipIf(!haveGcc)("NVML through bun:ffi on the fake library", () => {
  let path: string;
  let fake: FakeNvmlControl;
  const probes: GpuProbe[] = [];
  const open = () => {
    const p = openNvml({ libraryPath: path });
    probes.push(p);
    return p;
  };

  beforeAll(() => {
    path = buildFakeNvml();
    fake = openFakeNvmlControl(path);
  });
  afterEach(() => {
    for (const p of probes.splice(0)) p.close();
  });
  afterAll(() => fake.close());

  test("two mixed GPUs: names, uuids, VRAM, compute capability, utilisation, driver", () => {
    fake.configure({
      FAKE_NVML_GPUS: 2,
      FAKE_NVML_DRIVER: "550.54.15",
      FAKE_NVML_VRAM_USED_0: 2 * GIB,
      FAKE_NVML_UTIL_GPU_0: 37,
      FAKE_NVML_UTIL_MEM_0: 12,
      FAKE_NVML_NAME_1: "NVIDIA GeForce RTX 3060",
      FAKE_NVML_UUID_1: "GPU-3060aaaa-bbbb-cccc-dddd-eeeeffff0000",
      FAKE_NVML_VRAM_TOTAL_1: 12 * GIB,
      FAKE_NVML_CC_1: "8.9",
    });
    expect(open().inventory()).toEqual({
      available: true,
      driver_version: "550.54.15",
      devices: [
        {
          index: 0,
          name: "NVIDIA GeForce RTX 3090",
          uuid: "GPU-fa4e0000-0000-4000-8000-000000000000",
          vram_total_bytes: 24 * GIB,
          vram_free_bytes: 22 * GIB,
          vram_used_bytes: 2 * GIB,
          compute_capability: "8.6",
          utilization_gpu_percent: 37,
          utilization_memory_percent: 12,
        },
        {
          index: 1,
          name: "NVIDIA GeForce RTX 3060",
          uuid: "GPU-3060aaaa-bbbb-cccc-dddd-eeeeffff0000",
          vram_total_bytes: 12 * GIB,
          vram_free_bytes: 12 * GIB,
          vram_used_bytes: 0,
          compute_capability: "8.9",
          utilization_gpu_percent: 0,
          utilization_memory_percent: 0,
        },
      ],
    });
  });

  test("sample() reads VRAM and utilisation afresh on every call", () => {
    fake.configure({ FAKE_NVML_GPUS: 2 });
    const probe = open();
    probe.inventory();
    fake.set("FAKE_NVML_VRAM_USED_1", 5 * GIB);
    fake.set("FAKE_NVML_UTIL_GPU_1", 90);
    expect(probe.sample()).toEqual([
      { index: 0, vram_total_bytes: 24 * GIB, vram_free_bytes: 24 * GIB, vram_used_bytes: 0, utilization_gpu_percent: 0, utilization_memory_percent: 0 },
      { index: 1, vram_total_bytes: 24 * GIB, vram_free_bytes: 19 * GIB, vram_used_bytes: 5 * GIB, utilization_gpu_percent: 90, utilization_memory_percent: 0 },
    ]);
  });

  test("sample() before any inventory() takes one first", () => {
    fake.configure({ FAKE_NVML_GPUS: 1, FAKE_NVML_VRAM_USED: GIB });
    expect(open().sample().map((s) => s.vram_used_bytes)).toEqual([GIB]);
  });

  test("utilisation NOT_SUPPORTED (MIG, some boards) reads as undefined, the rest still answers", () => {
    fake.configure({ FAKE_NVML_GPUS: 2, FAKE_NVML_UTIL_NOT_SUPPORTED_1: 1, FAKE_NVML_UTIL_GPU: 50 });
    const probe = open();
    const [d0, d1] = probe.inventory().devices;
    expect(d0?.utilization_gpu_percent).toBe(50);
    expect(d1).toBeDefined();
    expect("utilization_gpu_percent" in d1!).toBe(false);
    expect("utilization_memory_percent" in d1!).toBe(false);
    expect(d1!.vram_total_bytes).toBe(24 * GIB);
    expect(probe.sample()[1]).toEqual({ index: 1, vram_total_bytes: 24 * GIB, vram_free_bytes: 24 * GIB, vram_used_bytes: 0 });
  });

  test("init is reference counted per probe and close() is idempotent", () => {
    fake.configure({ FAKE_NVML_GPUS: 1 });
    const a = open();
    const b = open();
    expect(fake.initRefs()).toBe(2);
    a.close();
    a.close();
    expect(fake.initRefs()).toBe(1);
    expect(b.inventory().available).toBe(true);
    expect(a.inventory()).toEqual({ available: false, devices: [], reason: "NVML probe closed" });
    expect(a.sample()).toEqual([]);
    b.close();
    expect(fake.initRefs()).toBe(0);
  });

  test("zero GPUs behind a working driver: unavailable, and the reason says so", () => {
    fake.configure({ FAKE_NVML_GPUS: 0, FAKE_NVML_DRIVER: "535.183.01" });
    const probe = open();
    expect(probe.inventory()).toEqual({
      available: false,
      driver_version: "535.183.01",
      devices: [],
      reason: "NVML found no GPU (driver 535.183.01)",
    });
    expect(probe.sample()).toEqual([]);
  });
});

describe.skipIf(!haveGcc)("optional symbols", () => {
  test("nvmlDeviceGetMemoryInfo_v2, when exported, is used with its versioned 40-byte struct", () => {
    const path = buildFakeNvml(undefined, { memoryV2: true });
    const fake = openFakeNvmlControl(path);
    const probe = openNvml({ libraryPath: path });
    try {
      const reserved = 300 * 1024 * 1024;
      fake.configure({ FAKE_NVML_VRAM_USED: GIB, FAKE_NVML_VRAM_RESERVED: reserved });
      // v1 would report free = total - used; only v2 takes the driver's reservation out.
      expect(probe.sample()).toEqual([
        expect.objectContaining({ vram_total_bytes: 24 * GIB, vram_used_bytes: GIB, vram_free_bytes: 23 * GIB - reserved }),
      ]);
    } finally {
      probe.close();
      fake.close();
    }
  });

  test("a library without nvmlDeviceGetUtilizationRates still gives an inventory, without utilisation", () => {
    const path = buildFakeNvml(undefined, { noUtilization: true });
    const fake = openFakeNvmlControl(path);
    fake.configure({ FAKE_NVML_GPUS: 1 });
    const probe = openNvml({ libraryPath: path });
    try {
      const inv = probe.inventory();
      expect(inv.available).toBe(true);
      expect(inv.devices[0]?.name).toBe("NVIDIA GeForce RTX 3090");
      expect(inv.devices[0]?.utilization_gpu_percent).toBeUndefined();
    } finally {
      probe.close();
      fake.close();
    }
  });
});
