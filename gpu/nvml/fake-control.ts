// Drives the fake NVML library (fake-nvml.c) from inside the test process. Bun keeps its own copy
// of the environment: assigning process.env never reaches C getenv() (checked on Bun 1.4.5), so
// settings go in through the library's fake_nvml_set() instead. dlopen of the same path returns the
// same loaded object, so these settings are what the probe's own dlopen handles see.

import { dlopen, FFIType } from "bun:ffi";

const CONTROL = {
  fake_nvml_set: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  fake_nvml_reset: { args: [], returns: FFIType.void },
  fake_nvml_init_refs: { args: [], returns: FFIType.i32 },
} as const;

/** Keys are the full variable names of fake-nvml.c (FAKE_NVML_GPUS, FAKE_NVML_NAME_1, ...). */
export type FakeNvmlSettings = Record<string, string | number | undefined>;

export type FakeNvmlControl = {
  /** Drops earlier overrides, then applies `settings` (open probes keep their init references). */
  configure(settings: FakeNvmlSettings): void;
  /** Sets one setting; undefined removes the override (the environment shows through again). */
  set(key: string, value: string | number | undefined): void;
  /** nvmlInit_v2 calls not yet matched by nvmlShutdown. */
  initRefs(): number;
  close(): void;
};

export function openFakeNvmlControl(libraryPath: string): FakeNvmlControl {
  const lib = dlopen(libraryPath, CONTROL);
  const set = (key: string, value: string | number | undefined) => {
    const v = value === undefined ? null : cstr(String(value));
    if (lib.symbols.fake_nvml_set(cstr(key), v) !== 0) throw new Error(`fake NVML: too many settings (at ${key})`);
  };
  return {
    configure(settings) {
      lib.symbols.fake_nvml_reset();
      for (const [key, value] of Object.entries(settings)) set(key, value);
    },
    set,
    initRefs: () => lib.symbols.fake_nvml_init_refs(),
    close: () => lib.close(),
  };
}

/** A NUL-terminated copy, since bun:ffi passes typed arrays as raw pointers. */
function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(`${s}\0`);
}
