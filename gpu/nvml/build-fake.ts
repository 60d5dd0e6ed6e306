// Compiles fake-nvml.c into a shared library so the real bun:ffi binding can be exercised without
// a GPU. Builds are cached by a hash of the source and flags, so test files share one .so, and
// written through a temporary name then renamed, so two builds racing never expose half a file.
//
//   NVML_LIBRARY_PATH=$(bun gpu/nvml/build-fake.ts) FAKE_NVML_GPUS=2 bun run node ...

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Optional parts of the fake, each a -D flag of fake-nvml.c. */
export type FakeNvmlVariant = {
  /** Also export nvmlDeviceGetMemoryInfo_v2 (drivers >= 510 have it). */
  memoryV2?: boolean;
  /** Leave nvmlDeviceGetUtilizationRates out, to test a missing optional symbol. */
  noUtilization?: boolean;
  /** The PATH searched for gcc; the process PATH when absent. */
  searchPath?: string;
};

export const FAKE_NVML_SOURCE = join(import.meta.dir, "fake-nvml.c");
export const DEFAULT_FAKE_NVML_DIR = join(tmpdir(), "llorch-fake-nvml");

export class FakeNvmlBuildError extends Error {
  override readonly name = "FakeNvmlBuildError";
}

/** True when a C compiler is on PATH; tests that need the fake library skip themselves without. */
export function canBuildFakeNvml(): boolean {
  return Bun.which("gcc") !== null;
}

/** Builds (or reuses) the fake library in outDir and returns its absolute path; gcc is needed only to build. */
export function buildFakeNvml(outDir: string = DEFAULT_FAKE_NVML_DIR, variant: FakeNvmlVariant = {}): string {
  const flags = [
    ...(variant.memoryV2 ? ["-DFAKE_NVML_MEMORY_V2"] : []),
    ...(variant.noUtilization ? ["-DFAKE_NVML_NO_UTILIZATION"] : []),
  ];
  const source = readSource();
  const hash = new Bun.CryptoHasher("sha256").update(source).update(flags.join(" ")).digest("hex").slice(0, 16);
  const out = join(outDir, `libnvidia-ml-fake-${hash}.so`);
  if (existsSync(out)) return out;

  const gcc = Bun.which("gcc", variant.searchPath === undefined ? {} : { PATH: variant.searchPath });
  if (gcc === null) {
    throw new FakeNvmlBuildError("cannot build the fake NVML library: gcc is not on PATH (install gcc, e.g. apt-get install gcc)");
  }

  mkdirSync(outDir, { recursive: true });
  const partial = `${out}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const result = Bun.spawnSync([gcc, "-shared", "-fPIC", "-O1", "-Wall", ...flags, "-o", partial, FAKE_NVML_SOURCE], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (result.exitCode !== 0) {
    rmSync(partial, { force: true });
    throw new FakeNvmlBuildError(`gcc failed (exit ${result.exitCode}) on ${FAKE_NVML_SOURCE}:\n${result.stderr.toString()}`);
  }
  renameSync(partial, out);
  return out;
}

function readSource(): string {
  try {
    return readFileSync(FAKE_NVML_SOURCE, "utf8");
  } catch (err) {
    throw new FakeNvmlBuildError(`cannot read ${FAKE_NVML_SOURCE}: ${(err as Error).message}`);
  }
}

if (import.meta.main) {
  const variant: FakeNvmlVariant = {
    memoryV2: process.argv.includes("--memory-v2"),
    noUtilization: process.argv.includes("--no-utilization"),
  };
  console.log(buildFakeNvml(DEFAULT_FAKE_NVML_DIR, variant));
}
