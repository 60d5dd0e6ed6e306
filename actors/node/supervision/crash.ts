// Why an engine process went away, for the policy: the `crash_reason` metric label and the error
// class that picks a circuit breaker. Detection (exit code, signal, log patterns) and the text for
// `last_error` live with the process layer: host/process/classify.ts.

import type { CrashReason } from "../../../host/index.ts";

// One definition of a crash, shared with the process layer that detects it (host/process).
export type { CrashReason };

/** Values of `restart_scheduled_total{crash_reason}` (docs/contract.md#supervision). */
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
