// The raw NVML binding through bun:ffi: symbol tables, struct layouts, and one checked method per
// NVML call (a non-zero return code becomes an NvmlError). Layouts follow nvml.h exactly, so the
// same code drives the real libnvidia-ml.so.1 and the fake library built from fake-nvml.c.
//
// bun:ffi fails a whole dlopen when one symbol is missing (a TypeError), so the symbols every
// driver since the _v2 API has are opened together and the optional ones each in their own
// dlopen, tolerated when absent.

import { dlopen, FFIType, type Pointer } from "bun:ffi";
import { NVML, NvmlError } from "./types.ts";

const { i32, u32, ptr, cstring } = FFIType;

const REQUIRED = {
  nvmlInit_v2: { args: [], returns: i32 },
  nvmlShutdown: { args: [], returns: i32 },
  nvmlErrorString: { args: [i32], returns: cstring },
  nvmlSystemGetDriverVersion: { args: [ptr, u32], returns: i32 },
  nvmlDeviceGetCount_v2: { args: [ptr], returns: i32 },
  nvmlDeviceGetHandleByIndex_v2: { args: [u32, ptr], returns: i32 },
  nvmlDeviceGetName: { args: [ptr, ptr, u32], returns: i32 },
  nvmlDeviceGetUUID: { args: [ptr, ptr, u32], returns: i32 },
  nvmlDeviceGetMemoryInfo: { args: [ptr, ptr], returns: i32 },
  nvmlDeviceGetCudaComputeCapability: { args: [ptr, ptr, ptr], returns: i32 },
} as const;

/** Drivers >= 510: `used` excludes the driver's reserved memory, which v1 counts as used. */
const MEMORY_V2 = { nvmlDeviceGetMemoryInfo_v2: { args: [ptr, ptr], returns: i32 } } as const;
const UTILIZATION = { nvmlDeviceGetUtilizationRates: { args: [ptr, ptr], returns: i32 } } as const;

// Buffer sizes from nvml.h (the _V2 sizes where there are two; larger is always accepted).
const DRIVER_VERSION_BUFFER = 80; // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE
const NAME_BUFFER = 96; // NVML_DEVICE_NAME_V2_BUFFER_SIZE
const UUID_BUFFER = 96; // NVML_DEVICE_UUID_V2_BUFFER_SIZE
// nvmlMemory_v2_t {u32 version; u64 total, reserved, free, used}: 4 bytes of padding after version.
const MEMORY_V2_SIZE = 40;
const MEMORY_V2_VERSION = MEMORY_V2_SIZE | (2 << 24);

/** nvmlDevice_t: an opaque pointer, carried as a number the way bun:ffi represents pointers. */
export type DeviceHandle = Pointer;

export type MemoryInfo = { total: number; free: number; used: number };
export type Utilization = { gpu: number; memory: number };

/** Why the library could not be opened; `reason` is what the inventory reports. */
export class NvmlLoadError extends Error {
  override readonly name = "NvmlLoadError";
}

export class NvmlLibrary {
  private memoryV2: boolean;

  private constructor(
    readonly path: string,
    private readonly lib: ReturnType<typeof openRequired>,
    private readonly memLib: ReturnType<typeof openMemoryV2> | null,
    private readonly utilLib: ReturnType<typeof openUtilization> | null,
  ) {
    this.memoryV2 = memLib !== null;
  }

  /** Opens the library; throws NvmlLoadError naming a missing file or symbol. */
  static load(path: string): NvmlLibrary {
    let lib: ReturnType<typeof openRequired>;
    try {
      lib = openRequired(path);
    } catch (err) {
      throw new NvmlLoadError(loadFailure(path, err));
    }
    return new NvmlLibrary(path, lib, optional(() => openMemoryV2(path)), optional(() => openUtilization(path)));
  }

  get hasUtilization(): boolean {
    return this.utilLib !== null;
  }

  init(): void {
    this.check(this.lib.symbols.nvmlInit_v2(), "nvmlInit_v2");
  }

  shutdown(): void {
    this.check(this.lib.symbols.nvmlShutdown(), "nvmlShutdown");
  }

  /** Closes every dlopen handle; call after shutdown(), never use the library again. */
  close(): void {
    this.utilLib?.close();
    this.memLib?.close();
    this.lib.close();
  }

  errorString(code: number): string {
    return String(this.lib.symbols.nvmlErrorString(code) ?? "");
  }

  driverVersion(): string {
    const buf = new Uint8Array(DRIVER_VERSION_BUFFER);
    this.check(this.lib.symbols.nvmlSystemGetDriverVersion(buf, buf.length), "nvmlSystemGetDriverVersion");
    return cString(buf);
  }

  deviceCount(): number {
    const out = new Uint32Array(1);
    this.check(this.lib.symbols.nvmlDeviceGetCount_v2(out), "nvmlDeviceGetCount_v2");
    return out[0]!;
  }

  deviceHandle(index: number): DeviceHandle {
    const out = new BigUint64Array(1);
    this.check(this.lib.symbols.nvmlDeviceGetHandleByIndex_v2(index, out), "nvmlDeviceGetHandleByIndex_v2");
    // User-space addresses stay below 2^48 on x86-64 and arm64, so a number holds them exactly.
    return Number(out[0]!) as DeviceHandle;
  }

  deviceName(device: DeviceHandle): string {
    const buf = new Uint8Array(NAME_BUFFER);
    this.check(this.lib.symbols.nvmlDeviceGetName(device, buf, buf.length), "nvmlDeviceGetName");
    return cString(buf);
  }

  deviceUuid(device: DeviceHandle): string {
    const buf = new Uint8Array(UUID_BUFFER);
    this.check(this.lib.symbols.nvmlDeviceGetUUID(device, buf, buf.length), "nvmlDeviceGetUUID");
    return cString(buf);
  }

  memoryInfo(device: DeviceHandle): MemoryInfo {
    if (this.memoryV2 && this.memLib) {
      const buf = new ArrayBuffer(MEMORY_V2_SIZE);
      new Uint32Array(buf, 0, 1)[0] = MEMORY_V2_VERSION;
      const code = this.memLib.symbols.nvmlDeviceGetMemoryInfo_v2(device, new Uint8Array(buf));
      if (code === NVML.SUCCESS) {
        const [, total, , free, used] = new BigUint64Array(buf);
        return { total: Number(total), free: Number(free), used: Number(used) };
      }
      // The symbol exists but this driver or device does not take the v2 struct: use v1 from now on.
      if (!V2_UNSUPPORTED.has(code)) this.check(code, "nvmlDeviceGetMemoryInfo_v2");
      this.memoryV2 = false;
    }
    const out = new BigUint64Array(3); // nvmlMemory_t {u64 total, free, used}
    this.check(this.lib.symbols.nvmlDeviceGetMemoryInfo(device, out), "nvmlDeviceGetMemoryInfo");
    return { total: Number(out[0]), free: Number(out[1]), used: Number(out[2]) };
  }

  computeCapability(device: DeviceHandle): string {
    const major = new Int32Array(1);
    const minor = new Int32Array(1);
    this.check(this.lib.symbols.nvmlDeviceGetCudaComputeCapability(device, major, minor), "nvmlDeviceGetCudaComputeCapability");
    return `${major[0]}.${minor[0]}`;
  }

  /** Undefined when the symbol is absent or the device answers NOT_SUPPORTED (MIG, some boards). */
  utilization(device: DeviceHandle): Utilization | undefined {
    if (!this.utilLib) return undefined;
    const out = new Uint32Array(2); // nvmlUtilization_t {u32 gpu, memory}
    const code = this.utilLib.symbols.nvmlDeviceGetUtilizationRates(device, out);
    if (code === NVML.NOT_SUPPORTED) return undefined;
    this.check(code, "nvmlDeviceGetUtilizationRates");
    return { gpu: out[0]!, memory: out[1]! };
  }

  private check(code: number, call: string): void {
    if (code !== NVML.SUCCESS) throw new NvmlError(code, call, this.errorString(code));
  }
}

const V2_UNSUPPORTED = new Set<number>([NVML.NOT_SUPPORTED, NVML.FUNCTION_NOT_FOUND, NVML.ARGUMENT_VERSION_MISMATCH]);

function openRequired(path: string) {
  return dlopen(path, REQUIRED);
}
function openMemoryV2(path: string) {
  return dlopen(path, MEMORY_V2);
}
function openUtilization(path: string) {
  return dlopen(path, UTILIZATION);
}

/** An optional symbol group: absent (the TypeError bun:ffi throws) reads as null. */
function optional<T>(open: () => T): T | null {
  try {
    return open();
  } catch {
    return null;
  }
}

function loadFailure(path: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if ((err as { code?: unknown }).code === "ERR_DLOPEN_FAILED") {
    return /no such file/i.test(message)
      ? `${path} not found (is the NVIDIA driver installed?)`
      : `cannot load ${path}: ${message}`;
  }
  // bun:ffi says: Symbol "nvmlInit_v2" not found in "<path>".
  return `${path} lacks a required NVML symbol: ${message}`;
}

/** The bytes up to the first NUL, as UTF-8 (NVML writes C strings into our buffers). */
function cString(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(end < 0 ? buf : buf.subarray(0, end));
}
