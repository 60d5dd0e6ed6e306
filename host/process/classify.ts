// Why an engine process ended (docs/contract.md#supervision): exit code, signal, and the patterns
// engines print before dying (CUDA errors, VRAM and host out-of-memory), read from the tail of
// this run's log.

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { ExitStatus } from "./spawn.ts";

export type CrashReason =
  | { kind: "graceful" }
  | { kind: "exit"; code: number }
  | { kind: "signal"; signal: string }
  | { kind: "cuda_error"; detail: string }
  | { kind: "out_of_memory"; which: "vram" | "host"; detail: string }
  | { kind: "health_check_failure" };

/** How much of the log classification looks at. */
export const LOG_TAIL_BYTES = 64 * 1024;

/**
 * The last `bytes` of a log file, starting no earlier than `since` (the offset where this run's
 * output began, so an older run's crash in the same appended log is not blamed on this one).
 * Empty when the file is missing.
 */
export function readLogTail(path: string, bytes = LOG_TAIL_BYTES, since = 0): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return "";
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(since, size - bytes, 0);
    const length = Math.max(0, size - start);
    const buf = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const n = readSync(fd, buf, read, length - read, start + read);
      if (n === 0) break;
      read += n;
    }
    return new TextDecoder("utf-8", { fatal: false }).decode(buf.subarray(0, read));
  } finally {
    closeSync(fd);
  }
}

// llama.cpp: "cudaMalloc failed: out of memory", "CUDA error: out of memory"; torch: "CUDA out of
// memory"; a generic "out of memory" from a GPU runtime counts as VRAM.
const VRAM_OOM = /cudaMalloc failed|CUDA error: out of memory|CUDA out of memory|\bout of memory\b/i;
// The kernel's OOM killer sends SIGKILL; a shell or supervisor may echo "Killed".
const HOST_OOM_KILL = /oom[-_ ]?kill|Out of memory: Killed process|^Killed$/i;
// Allocation failures in host memory that end the process without the kernel's help.
const HOST_OOM = /std::bad_alloc|Cannot allocate memory|insufficient memory/i;
const CUDA_ERROR = /CUDA error|cudaError\w*|CUDA driver.*error/i;

/** The first log line matching `re`, trimmed: the detail an operator wants to see. */
function firstLine(re: RegExp, text: string): string | undefined {
  for (const line of text.split("\n")) if (re.test(line.trim())) return line.trim();
  return undefined;
}

export interface ClassifyOptions {
  /** We asked it to stop (stopGroup): its end is not a crash. */
  stopRequested?: boolean;
}

/** Classifies an exit. Exit code 0 and a requested stop are graceful (no restart). */
export function classifyExit(exit: ExitStatus, logTail: string, options: ClassifyOptions = {}): CrashReason {
  if (exit.code === 0 || options.stopRequested) return { kind: "graceful" };
  if (exit.signal === "SIGKILL") {
    const kill = firstLine(HOST_OOM_KILL, logTail);
    if (kill) return { kind: "out_of_memory", which: "host", detail: kill };
  }
  const hostAlloc = firstLine(HOST_OOM, logTail);
  // "CUDA error: out of memory" is a CUDA error and an OOM: OOM is the actionable one.
  const vram = firstLine(VRAM_OOM, logTail);
  if (hostAlloc && !(vram && /cuda|vram|device/i.test(vram))) return { kind: "out_of_memory", which: "host", detail: hostAlloc };
  if (vram) return { kind: "out_of_memory", which: "vram", detail: vram };
  const cuda = firstLine(CUDA_ERROR, logTail);
  if (cuda) return { kind: "cuda_error", detail: cuda };
  if (exit.signal) return { kind: "signal", signal: exit.signal };
  return { kind: "exit", code: exit.code ?? -1 };
}

/** One line for `last_error` and logs. */
export function describeCrash(reason: CrashReason): string {
  switch (reason.kind) {
    case "graceful":
      return "engine stopped";
    case "exit":
      return `engine exited with code ${reason.code}`;
    case "signal":
      return `engine killed by ${reason.signal}`;
    case "cuda_error":
      return `engine CUDA error: ${reason.detail}`;
    case "out_of_memory":
      return `engine out of ${reason.which === "vram" ? "GPU memory" : "host memory"}: ${reason.detail}`;
    case "health_check_failure":
      return "health check failed: engine stopped answering";
  }
}
