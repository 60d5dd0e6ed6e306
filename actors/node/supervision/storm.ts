// Restart-storm guard (docs/contract.md#supervision): a sliding window of 10 restarts per 60 s delays the next
// restart until the window has room; more than 5 in 60 s is worth a warning; 10 within 30 s is a
// storm that opens the breaker, named after what kept crashing (`oom_storm`, …). The restart count
// is kept (persisted by the caller) and forgotten after 600 s of stable running.

import type { CrashLabel } from "./crash.ts";

export interface StormConfig {
  /** Rate limit: at most `maxRestarts` restarts within any `windowMs`. */
  windowMs: number;
  maxRestarts: number;
  /** More than this many restarts within `windowMs` is a warning. */
  warnAbove: number;
  /** `stormCount` restarts within `stormWindowMs` is a storm. */
  stormWindowMs: number;
  stormCount: number;
  /** A run this long without a crash clears the restart count. */
  stableResetMs: number;
}

export const DEFAULT_STORM: StormConfig = {
  windowMs: 60_000,
  maxRestarts: 10,
  warnAbove: 5,
  stormWindowMs: 30_000,
  stormCount: 10,
  stableResetMs: 600_000,
};

export interface RestartRecord {
  /** When the restart happens (the crash time plus every delay). */
  at: number;
  /** What crash it answered; names a storm. */
  label: CrashLabel;
}

export interface StormState {
  /** Restarts still inside the longest window, oldest first. */
  restarts: RestartRecord[];
  /** Restarts since the last stable period or reset (`restart_count`). */
  restartCount: number;
}

export const INITIAL_STORM: StormState = { restarts: [], restartCount: 0 };

export type StormEvent =
  | { type: "storm"; restart_count: number; window_ms: number; classification: string }
  | { type: "rate_limited"; wait_ms: number; restart_count: number; window_ms: number }
  | { type: "warning"; restart_count: number; window_ms: number };

const STORM_NAMES: Record<CrashLabel, string> = {
  out_of_memory: "oom_storm",
  cuda_error: "cuda_storm",
  health_check_failure: "health_check_storm",
  signal: "signal_storm",
  process_exit: "exit_storm",
};

/** One cause throughout names the storm after it; a mix is a plain `restart_storm`. */
export function classifyStorm(records: readonly RestartRecord[]): string {
  const labels = new Set(records.map((r) => r.label));
  const [only] = labels;
  return labels.size === 1 && only ? STORM_NAMES[only] : "restart_storm";
}

/** Restarts in the window `(at - windowMs, at]` (`restart_rate` is this over `windowMs`). */
export function restartsWithin(state: StormState, at: number, windowMs: number): RestartRecord[] {
  return state.restarts.filter((r) => r.at > at - windowMs && r.at <= at);
}

/** Is the engine that just crashed at `now` in a storm? Counts the restarts that led up to it. */
export function detectStorm(state: StormState, now: number, config: StormConfig = DEFAULT_STORM): StormEvent | null {
  const recent = restartsWithin(state, now, config.stormWindowMs);
  if (recent.length < config.stormCount) return null;
  return { type: "storm", restart_count: recent.length, window_ms: config.stormWindowMs, classification: classifyStorm(recent) };
}

/**
 * Books a restart wanted at `at` through the rate limit: a full window pushes it back until the
 * oldest restart in it leaves; `bypass` (operator override) books it as is. It never refuses a
 * restart (a storm's breaker does). Returns the added wait and the events.
 */
export function rateLimitRestart(
  state: StormState,
  at: number,
  label: CrashLabel,
  config: StormConfig = DEFAULT_STORM,
  bypass = false,
): { state: StormState; waitMs: number; events: StormEvent[] } {
  const events: StormEvent[] = [];
  let waitMs = 0;
  const inWindow = restartsWithin(state, at, config.windowMs);
  if (!bypass && inWindow.length >= config.maxRestarts) {
    // The restart may happen once only maxRestarts - 1 earlier ones remain in its window.
    const oldestToLeave = inWindow[inWindow.length - config.maxRestarts]!;
    waitMs = oldestToLeave.at + config.windowMs - at;
    events.push({ type: "rate_limited", wait_ms: waitMs, restart_count: inWindow.length, window_ms: config.windowMs });
  }
  const when = at + waitMs;
  const horizon = Math.max(config.windowMs, config.stormWindowMs);
  const restarts = [...state.restarts.filter((r) => r.at > when - horizon), { at: when, label }];
  const count = restarts.filter((r) => r.at > when - config.windowMs).length;
  if (count > config.warnAbove) events.push({ type: "warning", restart_count: count, window_ms: config.windowMs });
  return { state: { restarts, restartCount: state.restartCount + 1 }, waitMs, events };
}

/** Forgets the restart count once the engine has been up for `stableResetMs`. */
export function stormStable(state: StormState, now: number, runningSince: number | null, config: StormConfig = DEFAULT_STORM): StormState {
  if (runningSince === null || state.restartCount === 0) return state;
  return now - runningSince >= config.stableResetMs ? INITIAL_STORM : state;
}
