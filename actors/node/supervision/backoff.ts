// Restart backoff for engine processes (digest §7.5): 1 s doubling to 60 s, exponent capped at
// 10, ±10 % jitter, CUDA faults wait twice as long, and a run that stayed up 300 s starts the
// sequence over. Pure: timestamps and the random draw come in as arguments.

export interface BackoffConfig {
  initialMs: number;
  maxMs: number;
  /** 2^exponent stops growing here, so huge attempt numbers cannot overflow. */
  maxExponent: number;
  /** Relative jitter: 0.1 = ±10 %. */
  jitter: number;
  /** Floor applied after jitter (0 = none). */
  minDelayMs: number;
  /** Multiplier for the `cuda` error class. */
  cudaMultiplier: number;
  /** A run at least this long without a crash resets the attempt count. */
  stableResetMs: number;
}

export const DEFAULT_BACKOFF: BackoffConfig = {
  initialMs: 1000,
  maxMs: 60_000,
  maxExponent: 10,
  jitter: 0.1,
  minDelayMs: 0,
  cudaMultiplier: 2,
  stableResetMs: 300_000,
};

export interface BackoffState {
  /** Consecutive crashes since the last reset; the next delay uses attempt + 1. */
  attempt: number;
}

export const INITIAL_BACKOFF: BackoffState = { attempt: 0 };

/**
 * Delay before restart number `attempt` (1-based): `min(initial × 2^min(attempt-1, maxExponent)
 * × (cuda ? multiplier : 1), max)`, then ±jitter, then the floor, capped at max once more.
 * `random` is in [0, 1): 0 gives −jitter, 0.5 none, → 1 gives +jitter.
 */
export function backoffDelay(attempt: number, cuda: boolean, random: number, config: BackoffConfig = DEFAULT_BACKOFF): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), config.maxExponent);
  const multiplier = cuda ? config.cudaMultiplier : 1;
  const base = Math.min(config.initialMs * 2 ** exponent * multiplier, config.maxMs);
  const jittered = base * (1 + config.jitter * (2 * random - 1));
  return Math.round(Math.min(Math.max(jittered, config.minDelayMs, 0), config.maxMs));
}

/**
 * Forgets earlier crashes when the engine has been up (since `runningSince`) for the stable
 * period. `runningSince` is null when no engine is running.
 */
export function backoffStable(state: BackoffState, now: number, runningSince: number | null, config: BackoffConfig = DEFAULT_BACKOFF): BackoffState {
  if (runningSince === null || state.attempt === 0) return state;
  return now - runningSince >= config.stableResetMs ? INITIAL_BACKOFF : state;
}

/** A crash at `now`: the stability reset first (the run that just ended may have been long), then the next delay. */
export function nextBackoff(
  state: BackoffState,
  input: { now: number; runningSince: number | null; cuda: boolean; random: number },
  config: BackoffConfig = DEFAULT_BACKOFF,
): { state: BackoffState; delayMs: number; attempt: number } {
  const attempt = backoffStable(state, input.now, input.runningSince, config).attempt + 1;
  return { state: { attempt }, delayMs: backoffDelay(attempt, input.cuda, input.random, config), attempt };
}
