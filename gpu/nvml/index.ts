// NVML: the GpuProbe interface, its bun:ffi implementation, its TypeScript twin and the builder of
// the fake C library that lets CI drive the real binding.

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
export { FakeGpuProbe, type FakeGpuOptions, type FakeGpuSpec } from "./fake.ts";
export {
  DEFAULT_FAKE_NVML_DIR,
  FAKE_NVML_SOURCE,
  FakeNvmlBuildError,
  buildFakeNvml,
  canBuildFakeNvml,
  type FakeNvmlVariant,
} from "./build-fake.ts";
export { openFakeNvmlControl, type FakeNvmlControl, type FakeNvmlSettings } from "./fake-control.ts";
