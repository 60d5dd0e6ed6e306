// Restart backoff for engine processes (docs/contract.md#supervision): 1 s doubling to 60 s,
// exponent capped at 10, ±10 % jitter, CUDA faults wait twice as long, and a run that stayed up
// 300 s starts the sequence over. The exponential step itself is runtime's `backoffDelay` (the one
// implementation); this file adds the engine's parameters and the attempt count with its reset.
// Pure: timestamps and the random draw come in as arguments.

import { backoffDelay } from "../../../runtime/index.ts";

export interface EngineBackoffConfig {
  initialMs: number;
  maxMs: number;
  /** 2^exponent stops growing here (at most 30), so huge attempt numbers cannot overflow. */
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

export const DEFAULT_ENGINE_BACKOFF: EngineBackoffConfig = {
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
 * Delay before engine restart number `attempt` (1-based): `min(initial × 2^min(attempt-1,
 * maxExponent) × (cuda ? multiplier : 1), max)`, then ±jitter, then the floor, capped at max once
 * more. `random` is in [0, 1): 0 gives −jitter, 0.5 none, → 1 gives +jitter.
 */
export function engineBackoffDelay(attempt: number, cuda: boolean, random: number, config: EngineBackoffConfig = DEFAULT_ENGINE_BACKOFF): number {
  // Capping the attempt caps the exponent; the CUDA multiplier scales the first step.
  const capped = Math.min(attempt, config.maxExponent + 1);
  const initialMs = config.initialMs * (cuda ? config.cudaMultiplier : 1);
  const delay = backoffDelay(capped, { initialMs, maxMs: config.maxMs, factor: 2, jitter: config.jitter }, random);
  return Math.round(Math.min(Math.max(delay, config.minDelayMs), config.maxMs));
}

/**
 * Forgets earlier crashes when the engine has been up (since `runningSince`) for the stable
 * period. `runningSince` is null when no engine is running.
 */
export function backoffStable(state: BackoffState, now: number, runningSince: number | null, config: EngineBackoffConfig = DEFAULT_ENGINE_BACKOFF): BackoffState {
  if (runningSince === null || state.attempt === 0) return state;
  return now - runningSince >= config.stableResetMs ? INITIAL_BACKOFF : state;
}

/** A crash at `now`: the stability reset first (the run that just ended may have been long), then the next delay. */
export function nextBackoff(
  state: BackoffState,
  input: { now: number; runningSince: number | null; cuda: boolean; random: number },
  config: EngineBackoffConfig = DEFAULT_ENGINE_BACKOFF,
): { state: BackoffState; delayMs: number; attempt: number } {
  const attempt = backoffStable(state, input.now, input.runningSince, config).attempt + 1;
  return { state: { attempt }, delayMs: engineBackoffDelay(attempt, input.cuda, input.random, config), attempt };
}
