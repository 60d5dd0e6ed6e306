// Error paths of the real bun:ffi binding: no library, a library without the NVML symbols, a
// failed init, a failed device count, lost devices (NvmlError), configuration through the process
// environment, and the real driver when this machine has one. Skips the fake-library parts,
// saying so, when gcc is absent.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { buildFakeNvml, canBuildFakeNvml } from "../../tests/fixtures/nvml/build-fake.ts";
import { openFakeNvmlControl, type FakeNvmlControl } from "../../tests/fixtures/nvml/fake-control.ts";
import { openNvml } from "./ffi.ts";
import { NvmlError, type GpuProbe } from "./types.ts";

const haveGcc = canBuildFakeNvml();
if (!haveGcc) console.warn("host/nvml/ffi-errors.test.ts: fake-library tests skipped, gcc is not on PATH");

test("a missing library gives zero GPUs with the reason, and no throw", () => {
  const probe = openNvml({ libraryPath: "/nonexistent/libnvidia-ml.so.1" });
  expect(probe.inventory()).toEqual({
    available: false,
    devices: [],
    reason: "/nonexistent/libnvidia-ml.so.1 not found (is the NVIDIA driver installed?)",
  });
  expect(probe.sample()).toEqual([]);
  probe.close();
});

test("a library without the NVML symbols gives zero GPUs naming the missing symbol", () => {
  const probe = openNvml({ libraryPath: "libm.so.6" });
  const inv = probe.inventory();
  expect(inv.available).toBe(false);
  expect(inv.reason).toStartWith("libm.so.6 lacks a required NVML symbol: ");
  expect(inv.reason).toMatch(/Symbol "nvml\w+" not found/);
  probe.close();
});

describe.skipIf(!haveGcc)("NVML errors through the fake library", () => {
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

  test("nvmlInit_v2 failing: zero GPUs, the reason names the NVML error, nothing left initialised", () => {
    fake.configure({ FAKE_NVML_GPUS: 2, FAKE_NVML_INIT_ERROR: 9 });
    const probe = open();
    expect(probe.inventory()).toEqual({
      available: false,
      devices: [],
      reason: "nvmlInit_v2 failed: NVML_ERROR_DRIVER_NOT_LOADED (Driver Not Loaded)",
    });
    expect(probe.sample()).toEqual([]);
    expect(fake.initRefs()).toBe(0);
  });

  test("nvmlDeviceGetCount_v2 failing: zero GPUs with the driver version and the error", () => {
    fake.configure({ FAKE_NVML_COUNT_ERROR: 999 });
    expect(open().inventory()).toEqual({
      available: false,
      driver_version: "550.54.15",
      devices: [],
      reason: "nvmlDeviceGetCount_v2 failed: NVML_ERROR_UNKNOWN (Unknown Error)",
    });
  });

  test("a lost GPU leaves the inventory with its error; the other GPU still serves", () => {
    fake.configure({ FAKE_NVML_GPUS: 2, FAKE_NVML_DEVICE_ERROR_1: 15 });
    const inv = open().inventory();
    expect(inv.available).toBe(true);
    expect(inv.reason).toBeUndefined();
    expect(inv.devices.map((d) => d.index)).toEqual([0]);
    expect(inv.device_errors).toEqual([
      { index: 1, code: 15, name: "NVML_ERROR_GPU_IS_LOST", message: expect.stringContaining("failed: NVML_ERROR_GPU_IS_LOST (GPU is lost)") },
    ]);
  });

  test("every GPU failing: zero GPUs, the reason names the first failure", () => {
    fake.configure({ FAKE_NVML_GPUS: 2, FAKE_NVML_DEVICE_ERROR: 15 });
    const inv = open().inventory();
    expect(inv.available).toBe(false);
    expect(inv.devices).toEqual([]);
    expect(inv.device_errors?.map((e) => e.index)).toEqual([0, 1]);
    expect(inv.reason).toStartWith("all 2 GPUs failed; GPU 0: ");
    expect(inv.reason).toContain("NVML_ERROR_GPU_IS_LOST");
  });

  test("a GPU lost after the inventory makes sample() throw NvmlError with the NVML code", () => {
    fake.configure({ FAKE_NVML_GPUS: 2 });
    const probe = open();
    expect(probe.inventory().devices).toHaveLength(2);
    fake.set("FAKE_NVML_DEVICE_ERROR_1", 15);
    let thrown: unknown;
    try {
      probe.sample();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(NvmlError);
    const err = thrown as NvmlError;
    expect(err.code).toBe(15);
    expect(err.name).toBe("NVML_ERROR_GPU_IS_LOST");
    expect(err.call).toBe("nvmlDeviceGetMemoryInfo");
    expect(err.message).toBe("nvmlDeviceGetMemoryInfo failed: NVML_ERROR_GPU_IS_LOST (GPU is lost)");
    // Once the GPU is back, sampling answers again.
    fake.set("FAKE_NVML_DEVICE_ERROR_1", undefined);
    expect(probe.sample()).toHaveLength(2);
  });

  test("settings in the process environment at start reach the fake (a node started from a shell)", async () => {
    const script = `
      const { openNvml } = await import(${JSON.stringify(`${import.meta.dir}/ffi.ts`)});
      const probe = openNvml();
      console.log(JSON.stringify(probe.inventory()));
      probe.close();`;
    const proc = Bun.spawn([process.execPath, "-e", script], {
      env: { PATH: process.env.PATH ?? "", NVML_LIBRARY_PATH: path, FAKE_NVML_GPUS: "3", FAKE_NVML_NAME_2: "NVIDIA H100 PCIe", FAKE_NVML_CC_2: "9.0" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, errText, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(errText).toBe("");
    expect(code).toBe(0);
    const inv = JSON.parse(out);
    expect(inv.devices.map((d: { name: string; compute_capability: string }) => `${d.name} ${d.compute_capability}`)).toEqual([
      "NVIDIA GeForce RTX 3090 8.6",
      "NVIDIA GeForce RTX 3090 8.6",
      "NVIDIA H100 PCIe 9.0",
    ]);
  });
});

// The real driver, when this machine has one (CI does not; a GPU host does).
const real = openNvml({ libraryPath: "libnvidia-ml.so.1" });
const realInventory = real.inventory();
real.close();
if (!realInventory.available) console.warn(`host/nvml/ffi-errors.test.ts: real-driver test skipped: ${realInventory.reason}`);

test.skipIf(!realInventory.available)("the real libnvidia-ml.so.1 lists its GPUs and samples them", () => {
  const probe = openNvml({ libraryPath: "libnvidia-ml.so.1" });
  try {
    const inv = probe.inventory();
    expect(inv.driver_version).toMatch(/^\d+\.\d+/);
    for (const d of inv.devices) {
      expect(d.name).toMatch(/\S/);
      expect(d.uuid).toStartWith("GPU-");
      expect(d.compute_capability).toMatch(/^\d+\.\d+$/);
      expect(d.vram_total_bytes).toBeGreaterThan(0);
      expect(d.vram_free_bytes).toBeLessThanOrEqual(d.vram_total_bytes);
    }
    const samples = probe.sample();
    expect(samples.map((s) => s.index)).toEqual(inv.devices.map((d) => d.index));
    for (const s of samples) expect(s.vram_used_bytes).toBeLessThanOrEqual(s.vram_total_bytes);
  } finally {
    probe.close();
  }
});
