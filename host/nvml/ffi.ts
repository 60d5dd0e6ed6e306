// openNvml(): the real GpuProbe over libnvidia-ml through bun:ffi. Opening never throws: a machine
// without the driver, an old library or a failed init yields a probe that reports zero GPUs and
// says why, so a node still starts and pools that may not use the CPU stay unready with that
// reason. Each probe holds one NVML init reference (NVML counts nvmlInit_v2/nvmlShutdown pairs),
// released by close().

import { NvmlLibrary, NvmlLoadError, type DeviceHandle } from "./library.ts";
import { NvmlError, type GpuDevice, type GpuDeviceError, type GpuInventory, type GpuProbe, type GpuSample } from "./types.ts";

export const DEFAULT_NVML_LIBRARY = "libnvidia-ml.so.1";

export type NvmlOptions = {
  /** Path or bare soname of the library; wins over the environment. */
  libraryPath?: string;
  /** Where NVML_LIBRARY_PATH is read from; the process environment when absent. */
  env?: Record<string, string | undefined>;
};

/** The library path openNvml uses: the option, else NVML_LIBRARY_PATH, else libnvidia-ml.so.1. */
export function nvmlLibraryPath(options: NvmlOptions = {}): string {
  const fromEnv = (options.env ?? process.env).NVML_LIBRARY_PATH;
  return options.libraryPath || fromEnv || DEFAULT_NVML_LIBRARY;
}

export function openNvml(options: NvmlOptions = {}): GpuProbe {
  const path = nvmlLibraryPath(options);
  let lib: NvmlLibrary;
  try {
    lib = NvmlLibrary.load(path);
  } catch (err) {
    if (err instanceof NvmlLoadError) return new NvmlProbe(null, err.message);
    throw err;
  }
  try {
    lib.init();
  } catch (err) {
    lib.close();
    if (err instanceof NvmlError) return new NvmlProbe(null, err.message);
    throw err;
  }
  return new NvmlProbe(lib, "");
}

type Listed = { index: number; handle: DeviceHandle };

class NvmlProbe implements GpuProbe {
  private closed = false;
  /** The devices the latest inventory listed; sample() measures these. */
  private listed: Listed[] | null = null;

  constructor(
    private readonly lib: NvmlLibrary | null,
    private readonly unavailable: string,
  ) {}

  inventory(): GpuInventory {
    if (this.closed) return { available: false, devices: [], reason: "NVML probe closed" };
    if (!this.lib) return { available: false, devices: [], reason: this.unavailable };
    const lib = this.lib;

    let driver_version: string | undefined;
    let count: number;
    try {
      driver_version = lib.driverVersion();
      count = lib.deviceCount();
    } catch (err) {
      if (!(err instanceof NvmlError)) throw err;
      this.listed = [];
      return { available: false, ...(driver_version ? { driver_version } : {}), devices: [], reason: err.message };
    }

    const devices: GpuDevice[] = [];
    const device_errors: GpuDeviceError[] = [];
    const listed: Listed[] = [];
    for (let index = 0; index < count; index++) {
      try {
        const handle = lib.deviceHandle(index);
        devices.push(this.describe(index, handle));
        listed.push({ index, handle });
      } catch (err) {
        if (!(err instanceof NvmlError)) throw err;
        device_errors.push({ index, code: err.code, name: err.name, message: err.message });
      }
    }
    this.listed = listed;

    const inv: GpuInventory = { available: devices.length > 0, driver_version, devices };
    if (device_errors.length > 0) inv.device_errors = device_errors;
    if (devices.length === 0) {
      inv.reason =
        count === 0
          ? `NVML found no GPU (driver ${driver_version})`
          : `all ${count} GPUs failed; GPU ${device_errors[0]!.index}: ${device_errors[0]!.message}`;
    }
    return inv;
  }

  sample(): GpuSample[] {
    if (this.closed || !this.lib) return [];
    if (this.listed === null) this.inventory();
    return (this.listed ?? []).map(({ index, handle }) => {
      const mem = this.lib!.memoryInfo(handle);
      const util = this.lib!.utilization(handle);
      return {
        index,
        vram_total_bytes: mem.total,
        vram_free_bytes: mem.free,
        vram_used_bytes: mem.used,
        ...(util ? { utilization_gpu_percent: util.gpu, utilization_memory_percent: util.memory } : {}),
      };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listed = null;
    if (!this.lib) return;
    try {
      this.lib.shutdown();
    } catch (err) {
      // A failed shutdown leaves nothing to undo on our side; the handles still close below.
      if (!(err instanceof NvmlError)) throw err;
    }
    this.lib.close();
  }

  private describe(index: number, handle: DeviceHandle): GpuDevice {
    const lib = this.lib!;
    const mem = lib.memoryInfo(handle);
    const util = lib.utilization(handle);
    return {
      index,
      name: lib.deviceName(handle),
      uuid: lib.deviceUuid(handle),
      vram_total_bytes: mem.total,
      vram_free_bytes: mem.free,
      vram_used_bytes: mem.used,
      compute_capability: lib.computeCapability(handle),
      ...(util ? { utilization_gpu_percent: util.gpu, utilization_memory_percent: util.memory } : {}),
    };
  }
}
