// Restart intensity and exponential backoff, as pure functions of timestamps (unit-tested without
// timers). Restart intensity is the supervisor's give-up rule: too many restarts within a window
// and it escalates to its parent. `backoffDelay` is the one exponential backoff in the repository:
// link reconnects use it directly, and the node's restart policy builds on it. A supervisor child
// gets a delay between restarts only through its `restartDelay` hook (see supervisor.ts).

export interface RestartIntensity {
  /** At most this many restarts ... */
  maxRestarts: number;
  /** ... within this sliding window, else the supervisor gives up and escalates. */
  periodMs: number;
}

export const DEFAULT_RESTART_INTENSITY: RestartIntensity = { maxRestarts: 3, periodMs: 5000 };

/**
 * Records a restart at `now` and says whether it stays within the intensity.
 * `history` holds earlier restart times; the returned history is pruned to the window.
 */
export function checkRestartIntensity(
  history: readonly number[],
  now: number,
  intensity: RestartIntensity,
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
}

/**
 * Delay before attempt number `attempt` (1-based): `min(initial × factor^(attempt-1), max)`,
 * then ±jitter, capped at max. The exponent stops at 30, so huge attempt numbers stay finite.
 * `random` is in [0, 1): 0 gives −jitter, 0.5 none, → 1 gives +jitter.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: number): number {
  const factor = policy.factor ?? 2;
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const base = Math.min(policy.initialMs * factor ** exponent, policy.maxMs);
  const jitter = policy.jitter ?? 0;
  const jittered = base * (1 + jitter * (2 * random - 1));
  return Math.max(0, Math.min(Math.round(jittered), policy.maxMs));
}
