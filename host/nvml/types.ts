// The shapes a node sees of its GPUs, the NVML return codes as a tagged error, and the GpuProbe
// interface that the real binding (ffi.ts) and the TypeScript fake (fake.ts) both implement.

/** One GPU as NVML enumerates it (index = NVML's order, which is PCI bus order). */
export type GpuDevice = {
  index: number;
  name: string;
  uuid: string;
  vram_total_bytes: number;
  vram_free_bytes: number;
  vram_used_bytes: number;
  /** "major.minor", e.g. "8.6" for an RTX 3090. */
  compute_capability: string;
  /** Undefined when the device answers NOT_SUPPORTED (MIG, some boards) or the symbol is absent. */
  utilization_gpu_percent?: number;
  utilization_memory_percent?: number;
};

/** A device that NVML listed but that failed while being read; it is left out of `devices`. */
export type GpuDeviceError = { index: number; code: number; name: NvmlErrorName; message: string };

export type GpuInventory = {
  /** True when at least one GPU answered; `reason` is set exactly when this is false. */
  available: boolean;
  driver_version?: string;
  devices: GpuDevice[];
  /** Why there are zero GPUs: no library, a failed init, no device, every device failing. */
  reason?: string;
  /** Devices skipped because a call on them failed (e.g. GPU_IS_LOST); absent when none. */
  device_errors?: GpuDeviceError[];
};

/** The changing part of a device, read on every heartbeat. */
export type GpuSample = {
  index: number;
  vram_total_bytes: number;
  vram_free_bytes: number;
  vram_used_bytes: number;
  utilization_gpu_percent?: number;
  utilization_memory_percent?: number;
};

export interface GpuProbe {
  /** Enumerates the GPUs. Never throws: failures become `available:false` with a `reason`. */
  inventory(): GpuInventory;
  /**
   * Measures the devices the latest inventory() listed (it takes one first if there is none).
   * Throws NvmlError when a device fails (a driver error the node turns into Unready); returns []
   * when NVML is unavailable or the probe is closed.
   */
  sample(): GpuSample[];
  /** Releases this probe's NVML init reference; idempotent. */
  close(): void;
}

// The nvmlReturn_t codes of nvml.h (API version 11+); unknown codes read as UNKNOWN.
const CODE_NAMES = {
  0: "SUCCESS",
  1: "UNINITIALIZED",
  2: "INVALID_ARGUMENT",
  3: "NOT_SUPPORTED",
  4: "NO_PERMISSION",
  5: "ALREADY_INITIALIZED",
  6: "NOT_FOUND",
  7: "INSUFFICIENT_SIZE",
  8: "INSUFFICIENT_POWER",
  9: "DRIVER_NOT_LOADED",
  10: "TIMEOUT",
  11: "IRQ_ISSUE",
  12: "LIBRARY_NOT_FOUND",
  13: "FUNCTION_NOT_FOUND",
  14: "CORRUPTED_INFOROM",
  15: "GPU_IS_LOST",
  16: "RESET_REQUIRED",
  17: "OPERATING_SYSTEM",
  18: "LIB_RM_VERSION_MISMATCH",
  19: "IN_USE",
  20: "MEMORY",
  21: "NO_DATA",
  22: "VGPU_ECC_NOT_SUPPORTED",
  23: "INSUFFICIENT_RESOURCES",
  24: "FREQ_NOT_SUPPORTED",
  25: "ARGUMENT_VERSION_MISMATCH",
  26: "DEPRECATED",
  27: "NOT_READY",
  28: "GPU_NOT_FOUND",
  29: "INVALID_STATE",
  30: "RESET_TYPE_NOT_SUPPORTED",
  999: "UNKNOWN",
} as const;

export type NvmlCodeName = (typeof CODE_NAMES)[keyof typeof CODE_NAMES];
/** Error names follow nvml.h, except SUCCESS which nvml.h spells NVML_SUCCESS. */
export type NvmlErrorName = `NVML_ERROR_${Exclude<NvmlCodeName, "SUCCESS">}`;

/** The codes callers branch on. */
export const NVML = {
  SUCCESS: 0,
  UNINITIALIZED: 1,
  INVALID_ARGUMENT: 2,
  NOT_SUPPORTED: 3,
  INSUFFICIENT_SIZE: 7,
  DRIVER_NOT_LOADED: 9,
  LIBRARY_NOT_FOUND: 12,
  FUNCTION_NOT_FOUND: 13,
  GPU_IS_LOST: 15,
  ARGUMENT_VERSION_MISMATCH: 25,
  UNKNOWN: 999,
} as const;

/** "NVML_ERROR_GPU_IS_LOST" for 15; codes outside the table read as NVML_ERROR_UNKNOWN. */
export function nvmlErrorName(code: number): NvmlErrorName {
  const name = (CODE_NAMES as Record<number, NvmlCodeName | undefined>)[code];
  return name === undefined || name === "SUCCESS" ? "NVML_ERROR_UNKNOWN" : `NVML_ERROR_${name}`;
}

/** A non-zero nvmlReturn_t. `call` names the NVML function that returned it. */
export class NvmlError extends Error {
  override readonly name: NvmlErrorName;

  constructor(
    readonly code: number,
    readonly call: string,
    /** nvmlErrorString's text when the library could give it. */
    detail?: string,
  ) {
    const name = nvmlErrorName(code);
    const unknown = name === "NVML_ERROR_UNKNOWN" && code !== NVML.UNKNOWN ? ` (code ${code})` : "";
    super(`${call} failed: ${name}${unknown}${detail ? ` (${detail})` : ""}`);
    this.name = name;
  }
}
