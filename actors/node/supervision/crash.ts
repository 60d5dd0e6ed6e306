// Why an engine process went away, as data: the `crash_reason` metric label, the error class that
// picks a circuit breaker, and the text that goes into the registry's `last_error`. Also turns an
// exit (code/signal) or an engine log line into a reason, so detection and policy agree on names.

export type CrashReason =
  | { kind: "exit"; code: number }
  | { kind: "signal"; signal: string }
  | { kind: "health_check_failure" }
  | { kind: "cuda_error"; detail: string }
  | { kind: "out_of_memory"; which: "vram" | "host" }
  /** Exit code 0: the engine shut down on purpose; never restarted. */
  | { kind: "graceful" };

/** Values of `restart_scheduled_total{crash_reason}` (digest §7.5, §12.1). */
export type CrashLabel = "process_exit" | "signal" | "health_check_failure" | "cuda_error" | "out_of_memory";

/** Each class has its own circuit breaker, so a flaky GPU does not hide a bad config and vice versa. */
export type ErrorClass = "cuda" | "general";

export const ERROR_CLASSES: readonly ErrorClass[] = ["cuda", "general"];

export function crashLabel(reason: CrashReason): CrashLabel {
  switch (reason.kind) {
    case "exit":
    case "graceful": // an exit with code 0; only ever labelled if a caller counts it anyway
      return "process_exit";
    case "signal":
      return "signal";
    case "health_check_failure":
      return "health_check_failure";
    case "cuda_error":
      return "cuda_error";
    case "out_of_memory":
      return "out_of_memory";
  }
}

/**
 * CUDA errors and VRAM exhaustion are device faults (driver, card, capacity): they share the
 * `cuda` breaker and the doubled backoff. Everything else, host OOM included, is `general`.
 */
export function errorClass(reason: CrashReason): ErrorClass {
  if (reason.kind === "cuda_error") return "cuda";
  if (reason.kind === "out_of_memory" && reason.which === "vram") return "cuda";
  return "general";
}

/** Human text for `last_error` and logs. */
export function describeCrash(reason: CrashReason): string {
  switch (reason.kind) {
    case "exit":
      return `process exited with code ${reason.code}`;
    case "signal":
      return `process killed by ${reason.signal}`;
    case "health_check_failure":
      return "health checks failed";
    case "cuda_error":
      return `CUDA error: ${reason.detail}`;
    case "out_of_memory":
      return `out of memory (${reason.which === "vram" ? "VRAM" : "host"})`;
    case "graceful":
      return "process exited gracefully";
  }
}

/** A process exit as a reason: a signal wins over the code; code 0 is a graceful shutdown. */
export function crashFromExit(code: number | null, signal: string | null): CrashReason {
  if (signal) return { kind: "signal", signal };
  if (code === 0) return { kind: "graceful" };
  return { kind: "exit", code: code ?? -1 };
}

const CUDA_OOM = /(cuda|cudaMalloc|cublas|vram|gpu)[^\n]*out of memory|out of memory[^\n]*(cuda|vram|gpu|device)/i;
const HOST_OOM = /\b(oom-kill|out of memory|cannot allocate memory|std::bad_alloc)\b/i;
const CUDA_ERROR = /\b(CUDA error|cudaError\w*|CUBLAS_STATUS_\w+|NVRM: Xid)\b/i;

/**
 * A fatal reason read from one engine log line, or null. Engines such as llama.cpp print
 * `CUDA error: …` before aborting; the pattern decides the class before the exit code arrives.
 */
export function crashFromLog(line: string): CrashReason | null {
  if (CUDA_OOM.test(line)) return { kind: "out_of_memory", which: "vram" };
  if (CUDA_ERROR.test(line)) return { kind: "cuda_error", detail: line.trim().slice(0, 200) };
  if (HOST_OOM.test(line)) return { kind: "out_of_memory", which: "host" };
  return null;
}
