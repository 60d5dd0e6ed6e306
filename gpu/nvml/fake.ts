// FakeGpuProbe: the pure TypeScript twin of openNvml() for cluster tests that simulate many GPUs
// per node. It follows the real probe's rules (failed devices leave the inventory and make
// sample() throw NvmlError, an init failure reads as zero GPUs with the NVML error as reason), and
// its state is set by the test: VRAM use, utilisation, failures.

import { NVML, NvmlError, type GpuDevice, type GpuDeviceError, type GpuInventory, type GpuProbe, type GpuSample } from "./types.ts";

export type FakeGpuSpec = Partial<Omit<GpuDevice, "index" | "vram_free_bytes">>;

export type FakeGpuOptions = {
  /** A count of default GPUs (RTX 3090, 24 GiB, 8.6, 0 % busy) or one spec per GPU. Default 1. */
  devices?: number | FakeGpuSpec[];
  driver_version?: string;
  /** An NVML code nvmlInit_v2 "returned": the probe reports zero GPUs with that error. */
  init_error?: number;
  /** Any other reason for zero GPUs, e.g. "libnvidia-ml.so.1 not found". */
  unavailable?: string;
};

const GIB = 1024 ** 3;

export class FakeGpuProbe implements GpuProbe {
  private readonly devices: GpuDevice[];
  private readonly failures = new Map<number, number>();
  private readonly driver: string;
  private readonly unavailable: string | undefined;
  private listed: number[] | null = null;
  private closed_ = false;

  constructor(options: FakeGpuOptions = {}) {
    const specs = typeof options.devices === "number" || options.devices === undefined
      ? Array.from({ length: options.devices ?? 1 }, () => ({}))
      : options.devices;
    this.devices = specs.map((spec, index) => fakeDevice(index, spec));
    this.driver = options.driver_version ?? "550.54.15";
    this.unavailable = options.init_error !== undefined
      ? new NvmlError(options.init_error, "nvmlInit_v2").message
      : options.unavailable;
  }

  get closed(): boolean {
    return this.closed_;
  }

  inventory(): GpuInventory {
    if (this.closed_) return { available: false, devices: [], reason: "NVML probe closed" };
    if (this.unavailable !== undefined) return { available: false, devices: [], reason: this.unavailable };
    const devices: GpuDevice[] = [];
    const device_errors: GpuDeviceError[] = [];
    for (const d of this.devices) {
      const err = this.failure(d.index);
      if (err) device_errors.push({ index: d.index, code: err.code, name: err.name, message: err.message });
      else devices.push({ ...d });
    }
    this.listed = devices.map((d) => d.index);
    const inv: GpuInventory = { available: devices.length > 0, driver_version: this.driver, devices };
    if (device_errors.length > 0) inv.device_errors = device_errors;
    if (devices.length === 0) {
      inv.reason = this.devices.length === 0
        ? `NVML found no GPU (driver ${this.driver})`
        : `all ${this.devices.length} GPUs failed; GPU ${device_errors[0]!.index}: ${device_errors[0]!.message}`;
    }
    return inv;
  }

  sample(): GpuSample[] {
    if (this.closed_ || this.unavailable !== undefined) return [];
    if (this.listed === null) this.inventory();
    return (this.listed ?? []).map((index) => {
      const err = this.failure(index);
      if (err) throw err;
      const { vram_total_bytes, vram_free_bytes, vram_used_bytes, utilization_gpu_percent, utilization_memory_percent } =
        this.device(index);
      return {
        index,
        vram_total_bytes,
        vram_free_bytes,
        vram_used_bytes,
        ...(utilization_gpu_percent !== undefined ? { utilization_gpu_percent } : {}),
        ...(utilization_memory_percent !== undefined ? { utilization_memory_percent } : {}),
      };
    });
  }

  close(): void {
    this.closed_ = true;
    this.listed = null;
  }

  /** Sets the bytes in use; free follows (total - used, never below 0). */
  setVramUsed(index: number, bytes: number): void {
    const d = this.device(index);
    d.vram_used_bytes = bytes;
    d.vram_free_bytes = Math.max(0, d.vram_total_bytes - bytes);
  }

  /** Sets utilisation in percent; undefined reads as NVML's NOT_SUPPORTED. */
  setUtilization(index: number, gpu: number | undefined, memory: number | undefined = gpu): void {
    const d = this.device(index);
    if (gpu === undefined) delete d.utilization_gpu_percent;
    else d.utilization_gpu_percent = gpu;
    if (memory === undefined) delete d.utilization_memory_percent;
    else d.utilization_memory_percent = memory;
  }

  /** From now on every call on the device answers `code` (default GPU_IS_LOST). */
  failDevice(index: number, code: number = NVML.GPU_IS_LOST): void {
    this.device(index);
    this.failures.set(index, code);
  }

  recoverDevice(index: number): void {
    this.failures.delete(index);
  }

  private failure(index: number): NvmlError | undefined {
    const code = this.failures.get(index);
    return code === undefined ? undefined : new NvmlError(code, "nvmlDeviceGetMemoryInfo");
  }

  private device(index: number): GpuDevice {
    const d = this.devices[index];
    if (!d) throw new RangeError(`fake GPU ${index} does not exist (have ${this.devices.length})`);
    return d;
  }
}

function fakeDevice(index: number, spec: FakeGpuSpec): GpuDevice {
  const total = spec.vram_total_bytes ?? 24 * GIB;
  const used = spec.vram_used_bytes ?? 0;
  const device: GpuDevice = {
    index,
    name: spec.name ?? "NVIDIA GeForce RTX 3090",
    uuid: spec.uuid ?? `GPU-fa4e0000-0000-4000-8000-${String(index).padStart(12, "0")}`,
    vram_total_bytes: total,
    vram_free_bytes: Math.max(0, total - used),
    vram_used_bytes: used,
    compute_capability: spec.compute_capability ?? "8.6",
  };
  // Utilisation is 0 unless the spec sets it; an explicit undefined means NOT_SUPPORTED.
  const gpu = "utilization_gpu_percent" in spec ? spec.utilization_gpu_percent : 0;
  const memory = "utilization_memory_percent" in spec ? spec.utilization_memory_percent : gpu;
  if (gpu !== undefined) device.utilization_gpu_percent = gpu;
  if (memory !== undefined) device.utilization_memory_percent = memory;
  return device;
}
