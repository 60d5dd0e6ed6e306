// The restart policy for one engine replica: crash detection's verdict goes in, a decision (restart
// after N ms, or not, and until when) and the events to log and count come out. Combines backoff,
// per-class circuit breakers and the storm guard. Pure and JSON-serialisable, so the replica can
// persist `restart_count`/`crash_count` and tests can replay exact timestamps.

import { backoffStable, nextBackoff, DEFAULT_ENGINE_BACKOFF, INITIAL_BACKOFF, type BackoffState, type EngineBackoffConfig } from "./backoff.ts";
import {
  breakerCheck,
  breakerFailure,
  breakerProbe,
  breakerReset,
  breakerRetryAt,
  breakerStable,
  breakerTrip,
  initialBreaker,
  DEFAULT_BREAKER,
  type BreakerConfig,
  type BreakerPhase,
  type BreakerResult,
  type BreakerState,
} from "./breaker.ts";
import { crashLabel, errorClass, ERROR_CLASSES, type CrashLabel, type CrashReason, type ErrorClass } from "./crash.ts";
import { detectStorm, rateLimitRestart, stormStable, DEFAULT_STORM, INITIAL_STORM, type StormConfig, type StormEvent, type StormState } from "./storm.ts";

export interface SupervisionConfig {
  backoff: EngineBackoffConfig;
  breaker: BreakerConfig;
  storm: StormConfig;
}

export const DEFAULT_SUPERVISION: SupervisionConfig = { backoff: DEFAULT_ENGINE_BACKOFF, breaker: DEFAULT_BREAKER, storm: DEFAULT_STORM };

/** Defaults with some fields replaced, e.g. `supervisionConfig({ breaker: { threshold: 3 } })`. */
export function supervisionConfig(overrides: { [K in keyof SupervisionConfig]?: Partial<SupervisionConfig[K]> } = {}): SupervisionConfig {
  return {
    backoff: { ...DEFAULT_ENGINE_BACKOFF, ...overrides.backoff },
    breaker: { ...DEFAULT_BREAKER, ...overrides.breaker },
    storm: { ...DEFAULT_STORM, ...overrides.storm },
  };
}

/** stopped: never started or exited gracefully; restarting: a restart is scheduled; failed: a breaker holds it down. */
export type EnginePhase = "stopped" | "running" | "restarting" | "failed";

export interface EngineSupervisionState {
  phase: EnginePhase;
  /** When the current run started; null when no engine runs. */
  startedAt: number | null;
  /** Crashes ever seen (`crash_count`, persisted). */
  crashCount: number;
  lastCrash: CrashReason | null;
  backoff: BackoffState;
  breakers: Record<ErrorClass, BreakerState>;
  storm: StormState;
}

export function initialSupervision(config: SupervisionConfig = DEFAULT_SUPERVISION): EngineSupervisionState {
  return {
    phase: "stopped",
    startedAt: null,
    crashCount: 0,
    lastCrash: null,
    backoff: INITIAL_BACKOFF,
    breakers: { cuda: initialBreaker(config.breaker), general: initialBreaker(config.breaker) },
    storm: INITIAL_STORM,
  };
}

export type RestartDecision =
  | {
      restart: true;
      /** Wait this long (backoff plus any rate-limit wait), then start the engine. */
      delayMs: number;
      reason: CrashLabel;
      /** This start is a half-open breaker's probe. */
      probe?: true;
      /** Started by the operator's override, past the breaker and the rate limit. */
      override?: true;
    }
  | { restart: false; why: "graceful" | "breaker_open" | "not_failed"; /** Ask again (`onRetryDue`) at this time. */ retryAtMs?: number };

export type SupervisionEvent =
  | {
      type: "restart_scheduled";
      crash_reason: CrashLabel;
      delay_ms: number;
      backoff_ms: number;
      crash_count: number;
      next_restart_at: number;
    }
  | { type: "breaker"; class: ErrorClass; from: BreakerPhase; to: BreakerPhase; failures: number; timeout_ms: number }
  | StormEvent;

export interface PolicyResult {
  state: EngineSupervisionState;
  events: SupervisionEvent[];
}

export interface DecisionResult extends PolicyResult {
  decision: RestartDecision;
}

/** Applies a breaker step to one class and turns its transitions into events. */
function stepBreaker(state: EngineSupervisionState, cls: ErrorClass, result: BreakerResult, events: SupervisionEvent[]): EngineSupervisionState {
  for (const t of result.events) events.push({ type: "breaker", class: cls, ...t, timeout_ms: result.state.timeoutMs });
  return { ...state, breakers: { ...state.breakers, [cls]: result.state } };
}

/** Folds in how long the current run has lasted: backoff, breakers and storm count reset as due. */
function applyStability(state: EngineSupervisionState, now: number, config: SupervisionConfig, events: SupervisionEvent[]): EngineSupervisionState {
  const since = state.startedAt;
  let next: EngineSupervisionState = {
    ...state,
    backoff: backoffStable(state.backoff, now, since, config.backoff),
    storm: stormStable(state.storm, now, since, config.storm),
  };
  for (const cls of ERROR_CLASSES) next = stepBreaker(next, cls, breakerStable(next.breakers[cls], now, since, config.breaker), events);
  return next;
}

/** Latest time an open breaker will allow a probe; null when none is open. */
function latestRetryAt(state: EngineSupervisionState): number | null {
  const times = ERROR_CLASSES.map((c) => breakerRetryAt(state.breakers[c])).filter((t): t is number => t !== null);
  return times.length ? Math.max(...times) : null;
}

/** Books a restart `backoffMs` from now through the storm guard; the engine is then `restarting`. */
function schedule(
  state: EngineSupervisionState,
  now: number,
  backoffMs: number,
  label: CrashLabel,
  config: SupervisionConfig,
  events: SupervisionEvent[],
  extra: { probe?: true; override?: true } = {},
): DecisionResult {
  const admitted = rateLimitRestart(state.storm, now + backoffMs, label, config.storm, extra.override === true);
  events.push(...admitted.events);
  const delayMs = backoffMs + admitted.waitMs;
  events.push({
    type: "restart_scheduled",
    crash_reason: label,
    delay_ms: delayMs,
    backoff_ms: backoffMs,
    crash_count: state.crashCount,
    next_restart_at: now + delayMs,
  });
  return { state: { ...state, phase: "restarting", storm: admitted.state }, events, decision: { restart: true, delayMs, reason: label, ...extra } };
}

/** Asks every breaker for a start now; half-opens those whose timeout passed. */
function gate(state: EngineSupervisionState, now: number, events: SupervisionEvent[]): { state: EngineSupervisionState; allowed: boolean; probe: boolean } {
  let next = state;
  let allowed = true;
  let probe = false;
  for (const cls of ERROR_CLASSES) {
    const check = breakerCheck(next.breakers[cls], now);
    next = stepBreaker(next, cls, check, events);
    allowed &&= check.allowed;
    probe ||= check.state.phase === "half_open";
  }
  return { state: next, allowed, probe };
}

function failed(state: EngineSupervisionState, events: SupervisionEvent[]): DecisionResult {
  const retryAtMs = latestRetryAt(state);
  const decision: RestartDecision = retryAtMs === null ? { restart: false, why: "breaker_open" } : { restart: false, why: "breaker_open", retryAtMs };
  return { state: { ...state, phase: "failed" }, events, decision };
}

/** The engine is up (call when it is spawned and ready): its stable time counts from here. */
export function onStarted(state: EngineSupervisionState, now: number): EngineSupervisionState {
  return { ...state, phase: "running", startedAt: now };
}

/** Periodic (or timed, see `nextStableCheckAt`) check of a running engine: resets earned by staying up. */
export function onStableCheck(state: EngineSupervisionState, now: number, config: SupervisionConfig = DEFAULT_SUPERVISION): PolicyResult {
  const events: SupervisionEvent[] = [];
  return { state: applyStability(state, now, config, events), events };
}

/** When `onStableCheck` would next change something for the running engine; null if never. */
export function nextStableCheckAt(state: EngineSupervisionState, config: SupervisionConfig = DEFAULT_SUPERVISION): number | null {
  if (state.startedAt === null) return null;
  const due: number[] = [];
  if (ERROR_CLASSES.some((c) => state.breakers[c].failures > 0 || state.breakers[c].phase === "half_open")) due.push(config.breaker.successAfterMs);
  if (state.backoff.attempt > 0) due.push(config.backoff.stableResetMs);
  if (state.storm.restartCount > 0) due.push(config.storm.stableResetMs);
  return due.length ? state.startedAt + Math.min(...due) : null;
}

/**
 * The engine went away at `now`. Graceful exits stay down. Otherwise: stability resets earned by
 * the run that just ended, the failure on its class's breaker, the storm check, then the backoff
 * and the rate limit. `random` in [0, 1) drives the jitter.
 */
export function onCrash(
  state: EngineSupervisionState,
  reason: CrashReason,
  now: number,
  random: number,
  config: SupervisionConfig = DEFAULT_SUPERVISION,
): DecisionResult {
  const events: SupervisionEvent[] = [];
  let next = applyStability(state, now, config, events);
  if (reason.kind === "graceful") {
    return { state: { ...next, phase: "stopped", startedAt: null }, events, decision: { restart: false, why: "graceful" } };
  }
  const cls = errorClass(reason);
  const label = crashLabel(reason);
  next = { ...next, startedAt: null, crashCount: next.crashCount + 1, lastCrash: reason };
  next = stepBreaker(next, cls, breakerFailure(next.breakers[cls], now, config.breaker), events);

  const storm = detectStorm(next.storm, now, config.storm);
  if (storm) {
    events.push(storm);
    next = stepBreaker(next, cls, breakerTrip(next.breakers[cls], now, config.breaker), events);
  }
  const gated = gate(next, now, events);
  if (!gated.allowed) return failed(gated.state, events);

  const backoff = nextBackoff(state.backoff, { now, runningSince: state.startedAt, cuda: cls === "cuda", random }, config.backoff);
  next = { ...gated.state, backoff: backoff.state };
  return schedule(next, now, backoff.delayMs, label, config, events, gated.probe ? { probe: true } : {});
}

/**
 * A `retryAtMs` came due: if every breaker now allows it (open ones turn half-open), the probe
 * restart goes ahead at once (the open period was the wait), still through the rate limit.
 */
export function onRetryDue(state: EngineSupervisionState, now: number, config: SupervisionConfig = DEFAULT_SUPERVISION): DecisionResult {
  if (state.phase !== "failed") return { state, events: [], decision: { restart: false, why: "not_failed" } };
  const events: SupervisionEvent[] = [];
  const gated = gate(state, now, events);
  if (!gated.allowed) return failed(gated.state, events);
  const label = state.lastCrash ? crashLabel(state.lastCrash) : "process_exit";
  return schedule(gated.state, now, 0, label, config, events, gated.probe ? { probe: true } : {});
}

/**
 * Operator reset: breakers closed with no failures, backoff and storm count forgotten. A failed
 * engine stays down until the caller asks `onRetryDue`, which then restarts it at once.
 */
export function reset(state: EngineSupervisionState, config: SupervisionConfig = DEFAULT_SUPERVISION): PolicyResult {
  const events: SupervisionEvent[] = [];
  let next: EngineSupervisionState = { ...state, backoff: INITIAL_BACKOFF, storm: INITIAL_STORM };
  for (const cls of ERROR_CLASSES) next = stepBreaker(next, cls, breakerReset(next.breakers[cls], config.breaker), events);
  return { state: next, events };
}

/**
 * Operator override: one restart now for an engine held down by a breaker or waiting out the rate
 * limit, without clearing the storm counter. Open breakers turn half-open, so this start is
 * their probe: 60 s up closes them, a crash reopens them with the timeout doubled.
 */
export function override(state: EngineSupervisionState, now: number, config: SupervisionConfig = DEFAULT_SUPERVISION): DecisionResult {
  if (state.phase !== "failed" && state.phase !== "restarting") return { state, events: [], decision: { restart: false, why: "not_failed" } };
  const events: SupervisionEvent[] = [];
  let next = state;
  for (const cls of ERROR_CLASSES) next = stepBreaker(next, cls, breakerProbe(next.breakers[cls]), events);
  // A restart still pending is replaced by this one, not added to it.
  const pending = next.storm.restarts.filter((r) => r.at > now).length;
  if (pending > 0) {
    const restarts = next.storm.restarts.filter((r) => r.at <= now);
    next = { ...next, storm: { restarts, restartCount: next.storm.restartCount - pending } };
  }
  const probe = ERROR_CLASSES.some((c) => next.breakers[c].phase === "half_open");
  const label = state.lastCrash ? crashLabel(state.lastCrash) : "process_exit";
  return schedule(next, now, 0, label, config, events, probe ? { probe: true, override: true } : { override: true });
}

/** `circuit_breaker_state` per class: 1 while open, else 0. */
export function breakerGauge(state: EngineSupervisionState): Record<ErrorClass, 0 | 1> {
  return { cuda: state.breakers.cuda.phase === "open" ? 1 : 0, general: state.breakers.general.phase === "open" ? 1 : 0 };
}
