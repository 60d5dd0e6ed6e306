// Exit classification from exit status and log tail, and reading only this run's part of the log.

import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { classifyExit, describeCrash, readLogTail } from "./classify.ts";

const dir = mkdtempSync(join(tmpdir(), "llorch-classify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("classifyExit", () => {
  test("exit 0 and a requested stop are graceful, whatever the log says", () => {
    expect(classifyExit({ code: 0, signal: null }, "CUDA error: boom")).toEqual({ kind: "graceful" });
    expect(classifyExit({ code: null, signal: "SIGTERM" }, "", { stopRequested: true })).toEqual({ kind: "graceful" });
  });

  test("a CUDA error line is a cuda_error with that line as detail", () => {
    const log = "slot update\nCUDA error: an illegal memory access was encountered\n  current device: 0\n";
    expect(classifyExit({ code: 1, signal: null }, log)).toEqual({ kind: "cuda_error", detail: "CUDA error: an illegal memory access was encountered" });
    expect(classifyExit({ code: null, signal: "SIGABRT" }, log).kind).toBe("cuda_error");
  });

  test("VRAM out of memory (llama.cpp's cudaMalloc, CUDA's own message) is out_of_memory vram", () => {
    const llama = "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 8192.00 MiB on device 0: cudaMalloc failed: out of memory\n";
    expect(classifyExit({ code: 1, signal: null }, llama)).toEqual({ kind: "out_of_memory", which: "vram", detail: llama.trim() });
    expect(classifyExit({ code: 1, signal: null }, "CUDA error: out of memory\n")).toMatchObject({ kind: "out_of_memory", which: "vram" });
  });

  test("SIGKILL with the OOM killer's trace is host OOM; a bare SIGKILL is a signal", () => {
    expect(classifyExit({ code: null, signal: "SIGKILL" }, "loading\nKilled\n")).toEqual({ kind: "out_of_memory", which: "host", detail: "Killed" });
    expect(classifyExit({ code: null, signal: "SIGKILL" }, "invoked oom-killer: gfp_mask=0x0\n")).toMatchObject({ kind: "out_of_memory", which: "host" });
    expect(classifyExit({ code: null, signal: "SIGKILL" }, "serving\n")).toEqual({ kind: "signal", signal: "SIGKILL" });
  });

  test("host allocation failures are host OOM", () => {
    expect(classifyExit({ code: null, signal: "SIGABRT" }, "terminate called after throwing an instance of 'std::bad_alloc'\n")).toMatchObject({ kind: "out_of_memory", which: "host" });
  });

  test("otherwise the signal or the exit code", () => {
    expect(classifyExit({ code: null, signal: "SIGSEGV" }, "")).toEqual({ kind: "signal", signal: "SIGSEGV" });
    expect(classifyExit({ code: 3, signal: null }, "error: something else\n")).toEqual({ kind: "exit", code: 3 });
  });

  test("describeCrash gives one line per kind; health failures say so for last_error", () => {
    expect(describeCrash({ kind: "health_check_failure" })).toContain("health check failed");
    expect(describeCrash({ kind: "signal", signal: "SIGSEGV" })).toBe("engine killed by SIGSEGV");
    expect(describeCrash({ kind: "out_of_memory", which: "vram", detail: "x" })).toBe("engine out of GPU memory: x");
    expect(describeCrash({ kind: "exit", code: 2 })).toBe("engine exited with code 2");
  });
});

describe("readLogTail", () => {
  test("reads the last bytes, never before `since`, and nothing for a missing file", () => {
    const path = join(dir, "engine.log");
    writeFileSync(path, "old run: CUDA error: from yesterday\n");
    const since = statSync(path).size;
    appendFileSync(path, "new run line 1\nnew run line 2\n");
    expect(readLogTail(path, 1 << 16, since)).toBe("new run line 1\nnew run line 2\n");
    expect(readLogTail(path, 15, since)).toBe("new run line 2\n");
    expect(readLogTail(path)).toContain("old run");
    expect(classifyExit({ code: 1, signal: null }, readLogTail(path, 1 << 16, since))).toEqual({ kind: "exit", code: 1 });
    expect(readLogTail(join(dir, "missing.log"))).toBe("");
  });
});
