// Circuit breaker over engine restarts (docs/contract.md#supervision): Closed until `threshold` consecutive
// failures, then Open (no restarts; the pool is "permanently failed") for `timeout`, then
// HalfOpen: one probe restart. A run that stays up `successAfterMs` closes it; a failure while
// HalfOpen reopens it with the timeout doubled. Transitions come back as events for the caller to
// log (`old_state`, `new_state`, `failure_count`) and count (`circuit_breaker_open_total`).

export type BreakerPhase = "closed" | "open" | "half_open";

export interface BreakerConfig {
  /** Consecutive failures that open a closed breaker. */
  threshold: number;
  /** First open period. */
  timeoutMs: number;
  /** Doubling stops here, so a breaker that keeps failing still probes now and then. */
  maxTimeoutMs: number;
  /** A run this long counts as a success: closes a half-open breaker, clears failures. */
  successAfterMs: number;
}

export const DEFAULT_BREAKER: BreakerConfig = {
  threshold: 5,
  timeoutMs: 300_000,
  maxTimeoutMs: 3_600_000,
  successAfterMs: 60_000,
};

export interface BreakerState {
  phase: BreakerPhase;
  /** Consecutive failures; cleared by a successful run or a reset. */
  failures: number;
  /** When it last opened; null unless open or half-open. */
  openedAt: number | null;
  /** Length of the current (or next) open period. */
  timeoutMs: number;
}

export interface BreakerTransition {
  from: BreakerPhase;
  to: BreakerPhase;
  failures: number;
}

export interface BreakerResult {
  state: BreakerState;
  events: BreakerTransition[];
}

export function initialBreaker(config: BreakerConfig = DEFAULT_BREAKER): BreakerState {
  return { phase: "closed", failures: 0, openedAt: null, timeoutMs: config.timeoutMs };
}

function move(state: BreakerState, next: BreakerState): BreakerResult {
  const events = state.phase === next.phase ? [] : [{ from: state.phase, to: next.phase, failures: next.failures }];
  return { state: next, events };
}

/** A crash: counts toward the threshold when closed; any failure of the probe reopens with 2× timeout. */
export function breakerFailure(state: BreakerState, now: number, config: BreakerConfig = DEFAULT_BREAKER): BreakerResult {
  const failures = state.failures + 1;
  if (state.phase === "half_open") {
    const timeoutMs = Math.min(state.timeoutMs * 2, config.maxTimeoutMs);
    return move(state, { phase: "open", failures, openedAt: now, timeoutMs });
  }
  if (state.phase === "closed" && failures >= config.threshold) {
    return move(state, { phase: "open", failures, openedAt: now, timeoutMs: config.timeoutMs });
  }
  return move(state, { ...state, failures });
}

/** Opens at once whatever the count (a restart storm); from half-open the timeout doubles as for a failure. */
export function breakerTrip(state: BreakerState, now: number, config: BreakerConfig = DEFAULT_BREAKER): BreakerResult {
  if (state.phase === "open") return { state, events: [] };
  const timeoutMs = state.phase === "half_open" ? Math.min(state.timeoutMs * 2, config.maxTimeoutMs) : config.timeoutMs;
  return move(state, { phase: "open", failures: state.failures, openedAt: now, timeoutMs });
}

/** When an open breaker will let a probe through; null when it is not open. */
export function breakerRetryAt(state: BreakerState): number | null {
  return state.phase === "open" && state.openedAt !== null ? state.openedAt + state.timeoutMs : null;
}

/**
 * May an engine start at `now`? Closed and half-open say yes (half-open: this start is the probe);
 * open says no until its timeout has passed, then turns half-open and says yes.
 */
export function breakerCheck(state: BreakerState, now: number): BreakerResult & { allowed: boolean; retryAtMs?: number } {
  const retryAt = breakerRetryAt(state);
  if (retryAt === null) return { state, events: [], allowed: true };
  if (now < retryAt) return { state, events: [], allowed: false, retryAtMs: retryAt };
  return { ...move(state, { ...state, phase: "half_open" }), allowed: true };
}

/** An engine up since `runningSince` for `successAfterMs` is a success: failures clear, half-open closes. */
export function breakerStable(
  state: BreakerState,
  now: number,
  runningSince: number | null,
  config: BreakerConfig = DEFAULT_BREAKER,
): BreakerResult {
  if (runningSince === null || now - runningSince < config.successAfterMs) return { state, events: [] };
  if (state.phase === "open") return { state, events: [] }; // nothing runs while open; a stale start time
  if (state.phase === "closed" && state.failures === 0) return { state, events: [] };
  return move(state, initialBreaker(config));
}

/** Operator reset: closed, no failures, the timeout back at its first length. */
export function breakerReset(state: BreakerState, config: BreakerConfig = DEFAULT_BREAKER): BreakerResult {
  return move(state, initialBreaker(config));
}

/** Operator override: an open breaker turns half-open at once, so the forced start is its probe. */
export function breakerProbe(state: BreakerState): BreakerResult {
  if (state.phase !== "open") return { state, events: [] };
  return move(state, { ...state, phase: "half_open" });
}
