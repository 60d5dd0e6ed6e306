// Restart intensity and backoff as pure functions of timestamps: unit-tested without timers.

export interface Intensity {
  /** At most this many restarts ... */
  maxRestarts: number;
  /** ... within this sliding window, else the supervisor gives up and escalates. */
  periodMs: number;
}

export const DEFAULT_INTENSITY: Intensity = { maxRestarts: 3, periodMs: 5000 };

/**
 * Records a restart at `now` and says whether it stays within the intensity.
 * `history` holds earlier restart times; the returned history is pruned to the window.
 */
export function admitRestart(
  history: readonly number[],
  now: number,
  intensity: Intensity,
): { allowed: boolean; history: number[] } {
  const recent = history.filter((t) => now - t < intensity.periodMs);
  recent.push(now);
  return { allowed: recent.length <= intensity.maxRestarts, history: recent };
}

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** Multiplier per consecutive failure; default 2. */
  factor?: number;
  /** Relative jitter, e.g. 0.1 for ±10 %. */
  jitter?: number;
  /** A child that ran at least this long before failing starts again from `initialMs`. */
  resetAfterMs?: number;
}

/**
 * Delay before restart number `attempt` (1-based): `min(initial × factor^(attempt-1), max)`,
 * then ±jitter, capped at max. `random` is in [0, 1).
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: number): number {
  const factor = policy.factor ?? 2;
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const base = Math.min(policy.initialMs * factor ** exponent, policy.maxMs);
  const jitter = policy.jitter ?? 0;
  const jittered = base * (1 + jitter * (2 * random - 1));
  return Math.max(0, Math.min(Math.round(jittered), policy.maxMs));
}

/** Next attempt number given how long the child ran since its last start. */
export function nextAttempt(previous: number, ranForMs: number, policy: BackoffPolicy): number {
  if (policy.resetAfterMs !== undefined && ranForMs >= policy.resetAfterMs) return 1;
  return previous + 1;
}
