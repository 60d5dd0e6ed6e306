import { describe, expect, test } from "bun:test";
import { crashFromExit, crashFromLog, crashLabel, describeCrash, errorClass, type CrashLabel, type CrashReason } from "./crash.ts";

describe("crash reasons", () => {
  test("each reason has its crash_reason metric label", () => {
    const cases: [CrashReason, CrashLabel][] = [
      [{ kind: "exit", code: 1 }, "process_exit"],
      [{ kind: "signal", signal: "SIGSEGV" }, "signal"],
      [{ kind: "health_check_failure" }, "health_check_failure"],
      [{ kind: "cuda_error", detail: "illegal address" }, "cuda_error"],
      [{ kind: "out_of_memory", which: "host" }, "out_of_memory"],
      [{ kind: "out_of_memory", which: "vram" }, "out_of_memory"],
    ];
    for (const [reason, label] of cases) expect(crashLabel(reason)).toBe(label);
  });

  test("CUDA errors and VRAM exhaustion use the cuda breaker; the rest the general one", () => {
    expect(errorClass({ kind: "cuda_error", detail: "x" })).toBe("cuda");
    expect(errorClass({ kind: "out_of_memory", which: "vram" })).toBe("cuda");
    expect(errorClass({ kind: "out_of_memory", which: "host" })).toBe("general");
    expect(errorClass({ kind: "exit", code: 134 })).toBe("general");
    expect(errorClass({ kind: "signal", signal: "SIGKILL" })).toBe("general");
    expect(errorClass({ kind: "health_check_failure" })).toBe("general");
  });

  test("exit code 0 is graceful, a signal wins over the code, a missing code is kept visible", () => {
    expect(crashFromExit(0, null)).toEqual({ kind: "graceful" });
    expect(crashFromExit(139, "SIGSEGV")).toEqual({ kind: "signal", signal: "SIGSEGV" });
    expect(crashFromExit(2, null)).toEqual({ kind: "exit", code: 2 });
    expect(crashFromExit(null, null)).toEqual({ kind: "exit", code: -1 });
  });

  test("engine log lines are classified before the exit arrives", () => {
    expect(crashFromLog("CUDA error: an illegal memory access was encountered")).toEqual({
      kind: "cuda_error",
      detail: "CUDA error: an illegal memory access was encountered",
    });
    expect(crashFromLog("ggml_cuda: CUDA error: out of memory")).toEqual({ kind: "out_of_memory", which: "vram" });
    expect(crashFromLog("cudaMalloc failed: out of memory")).toEqual({ kind: "out_of_memory", which: "vram" });
    expect(crashFromLog("terminate called after throwing an instance of 'std::bad_alloc'")).toEqual({ kind: "out_of_memory", which: "host" });
    expect(crashFromLog("llama_new_context_with_model: n_ctx = 4096")).toBeNull();
  });

  test("last_error text names the cause", () => {
    expect(describeCrash({ kind: "exit", code: 3 })).toBe("process exited with code 3");
    expect(describeCrash({ kind: "signal", signal: "SIGSEGV" })).toBe("process killed by SIGSEGV");
    expect(describeCrash({ kind: "out_of_memory", which: "vram" })).toBe("out of memory (VRAM)");
  });
});
