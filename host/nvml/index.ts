// NVML: the GpuProbe interface and its bun:ffi implementation. The fakes CI drives it with (a
// TypeScript probe, a C library built with gcc) are test fixtures, in tests/fixtures/nvml/.

export {
  NVML,
  NvmlError,
  nvmlErrorName,
  type GpuDevice,
  type GpuDeviceError,
  type GpuInventory,
  type GpuProbe,
  type GpuSample,
  type NvmlCodeName,
  type NvmlErrorName,
} from "./types.ts";
export { DEFAULT_NVML_LIBRARY, nvmlLibraryPath, openNvml, type NvmlOptions } from "./ffi.ts";
export { NvmlLibrary, NvmlLoadError, type DeviceHandle, type MemoryInfo, type Utilization } from "./library.ts";
