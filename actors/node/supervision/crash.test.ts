// Crash reasons: the crash_reason metric label of each, and which circuit breaker each error
// class uses.

import { describe, expect, test } from "bun:test";
import { crashLabel, errorClass, type CrashLabel, type CrashReason } from "./crash.ts";

describe("crash reasons", () => {
  test("each reason has its crash_reason metric label", () => {
    const cases: [CrashReason, CrashLabel][] = [
      [{ kind: "exit", code: 1 }, "process_exit"],
      [{ kind: "signal", signal: "SIGSEGV" }, "signal"],
      [{ kind: "health_check_failure" }, "health_check_failure"],
      [{ kind: "cuda_error", detail: "illegal address" }, "cuda_error"],
      [{ kind: "out_of_memory", which: "host", detail: "x" }, "out_of_memory"],
      [{ kind: "out_of_memory", which: "vram", detail: "x" }, "out_of_memory"],
    ];
    for (const [reason, label] of cases) expect(crashLabel(reason)).toBe(label);
  });

  test("CUDA errors and VRAM exhaustion use the cuda breaker; the rest the general one", () => {
    expect(errorClass({ kind: "cuda_error", detail: "x" })).toBe("cuda");
    expect(errorClass({ kind: "out_of_memory", which: "vram", detail: "x" })).toBe("cuda");
    expect(errorClass({ kind: "out_of_memory", which: "host", detail: "x" })).toBe("general");
    expect(errorClass({ kind: "exit", code: 134 })).toBe("general");
    expect(errorClass({ kind: "signal", signal: "SIGKILL" })).toBe("general");
    expect(errorClass({ kind: "health_check_failure" })).toBe("general");
  });
});
