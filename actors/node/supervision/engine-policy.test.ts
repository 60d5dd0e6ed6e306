// The engine restart policy as a whole: crashes in, restart decisions and events out, replayed
// with exact timestamps (backoff, breakers per error class, storm guard, reset, override).

import { describe, expect, test } from "bun:test";
import type { CrashReason } from "./crash.ts";
import {
  breakerGauge,
  initialSupervision,
  nextStableCheckAt,
  onCrash,
  onRetryDue,
  onStableCheck,
  onStarted,
  override,
  reset,
  supervisionConfig,
  type DecisionResult,
  type EngineSupervisionState,
  type SupervisionConfig,
  type SupervisionEvent,
} from "./engine-policy.ts";

const NO_JITTER = 0.5;
const EXIT: CrashReason = { kind: "exit", code: 1 };
const CUDA: CrashReason = { kind: "cuda_error", detail: "illegal memory access" };
const HOST_OOM: CrashReason = { kind: "out_of_memory", which: "host", detail: "oom" };

interface Run {
  state: EngineSupervisionState;
  now: number;
  results: DecisionResult[];
  events: SupervisionEvent[];
}

/**
 * Starts the engine, lets it run `upMs`, crashes it, and follows the decision (restarts after the
 * delay) for each reason in turn. Stops following once a decision says no restart.
 */
function crashLoop(reasons: CrashReason[], upMs: number, config?: SupervisionConfig, from?: Run): Run {
  let state = from?.state ?? onStarted(initialSupervision(config), 0);
  let now = from?.now ?? 0;
  const results: DecisionResult[] = [];
  const events: SupervisionEvent[] = [];
  for (const reason of reasons) {
    now += upMs;
    const r = onCrash(state, reason, now, NO_JITTER, config);
    results.push(r);
    events.push(...r.events);
    state = r.state;
    if (!r.decision.restart) break;
    now += r.decision.delayMs;
    state = onStarted(state, now);
  }
  return { state, now, results, events };
}

const delays = (run: Run) => run.results.map((r) => (r.decision.restart ? r.decision.delayMs : null));
const ofType = <T extends SupervisionEvent["type"]>(events: SupervisionEvent[], type: T) =>
  events.filter((e): e is Extract<SupervisionEvent, { type: T }> => e.type === type);

describe("engine policy: restarts", () => {
  test("a graceful exit is not restarted", () => {
    const r = onCrash(onStarted(initialSupervision(), 0), { kind: "graceful" }, 5000, NO_JITTER);
    expect(r.decision).toEqual({ restart: false, why: "graceful" });
    expect(r.events).toEqual([]);
    expect(r.state.phase).toBe("stopped");
    expect(r.state.crashCount).toBe(0);
  });

  test("crashes are restarted after 1, 2, 4, 8 s and each is announced with its reason", () => {
    const run = crashLoop([EXIT, EXIT, { kind: "signal", signal: "SIGSEGV" }, { kind: "health_check_failure" }], 10_000);
    expect(delays(run)).toEqual([1000, 2000, 4000, 8000]);
    const scheduled = ofType(run.events, "restart_scheduled");
    expect(scheduled.map((e) => e.crash_reason)).toEqual(["process_exit", "process_exit", "signal", "health_check_failure"]);
    expect(scheduled[0]).toEqual({ type: "restart_scheduled", crash_reason: "process_exit", delay_ms: 1000, backoff_ms: 1000, crash_count: 1, next_restart_at: 11_000 });
    expect(run.state.crashCount).toBe(4);
    expect(run.state.phase).toBe("running");
  });

  test("jitter comes from the injected random draw", () => {
    const at = (random: number) => onCrash(onStarted(initialSupervision(), 0), EXIT, 1000, random).decision;
    expect(at(0)).toMatchObject({ restart: true, delayMs: 900 });
    expect(at(0.999999)).toMatchObject({ restart: true, delayMs: 1100 });
  });

  test("CUDA errors back off twice as long", () => {
    const cfg = supervisionConfig({ breaker: { threshold: 100 } });
    expect(delays(crashLoop([CUDA, CUDA, CUDA], 1000, cfg))).toEqual([2000, 4000, 8000]);
  });

  test("backoff climbs to 60 s and starts over after 300 s of stable running", () => {
    const cfg = supervisionConfig({ breaker: { threshold: 100 } });
    const climbing = crashLoop(Array(8).fill(EXIT), 1000, cfg);
    expect(delays(climbing)).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    const short = crashLoop([EXIT], 299_999, cfg, climbing);
    expect(delays(short)).toEqual([60_000]);
    const long = crashLoop([EXIT, EXIT], 300_000, cfg, short);
    expect(delays(long)).toEqual([1000, 1000]);
  });
});

describe("engine policy: circuit breaker", () => {
  test("the 5th consecutive failure opens the breaker: no restart until 300 s later", () => {
    const run = crashLoop(Array(5).fill(EXIT), 1000);
    expect(delays(run)).toEqual([1000, 2000, 4000, 8000, null]);
    const last = run.results.at(-1)!;
    expect(last.decision).toEqual({ restart: false, why: "breaker_open", retryAtMs: run.now + 300_000 });
    expect(last.events).toEqual([{ type: "breaker", class: "general", from: "closed", to: "open", failures: 5, timeout_ms: 300_000 }]);
    expect(last.state.phase).toBe("failed");
    expect(breakerGauge(last.state)).toEqual({ cuda: 0, general: 1 });
  });

  test("after the timeout one probe restarts; 60 s up closes the breaker", () => {
    const open = crashLoop(Array(5).fill(EXIT), 1000);
    const early = onRetryDue(open.state, open.now + 299_999);
    expect(early.decision).toEqual({ restart: false, why: "breaker_open", retryAtMs: open.now + 300_000 });
    const due = onRetryDue(early.state, open.now + 300_000);
    expect(due.decision).toEqual({ restart: true, delayMs: 0, reason: "process_exit", probe: true });
    expect(due.events[0]).toEqual({ type: "breaker", class: "general", from: "open", to: "half_open", failures: 5, timeout_ms: 300_000 });
    expect(onRetryDue(due.state, open.now + 300_001).decision).toEqual({ restart: false, why: "not_failed" });

    const started = onStarted(due.state, open.now + 300_000);
    expect(nextStableCheckAt(started)).toBe(open.now + 360_000);
    expect(onStableCheck(started, open.now + 359_999).events).toEqual([]);
    const closed = onStableCheck(started, open.now + 360_000);
    expect(closed.events).toEqual([{ type: "breaker", class: "general", from: "half_open", to: "closed", failures: 0, timeout_ms: 300_000 }]);
    expect(breakerGauge(closed.state)).toEqual({ cuda: 0, general: 0 });
  });

  test("a failed probe reopens the breaker with the timeout doubled", () => {
    const open = crashLoop(Array(5).fill(EXIT), 1000);
    const t = open.now + 300_000;
    const probe = onStarted(onRetryDue(open.state, t).state, t);
    const crashed = onCrash(probe, EXIT, t + 10_000, NO_JITTER);
    expect(crashed.decision).toEqual({ restart: false, why: "breaker_open", retryAtMs: t + 10_000 + 600_000 });
    expect(crashed.events).toEqual([{ type: "breaker", class: "general", from: "half_open", to: "open", failures: 6, timeout_ms: 600_000 }]);
  });

  test("CUDA and general failures count on separate breakers", () => {
    const mixed = crashLoop([CUDA, EXIT, CUDA, EXIT, CUDA, EXIT, CUDA, EXIT], 1000);
    expect(mixed.results.every((r) => r.decision.restart)).toBe(true);
    expect(mixed.state.breakers.cuda.failures).toBe(4);
    expect(mixed.state.breakers.general.failures).toBe(4);
    const fifth = crashLoop([CUDA], 1000, undefined, mixed).results[0]!;
    expect(fifth.decision).toMatchObject({ restart: false, why: "breaker_open" });
    expect(fifth.events).toEqual([{ type: "breaker", class: "cuda", from: "closed", to: "open", failures: 5, timeout_ms: 300_000 }]);
    expect(breakerGauge(fifth.state)).toEqual({ cuda: 1, general: 0 });
  });

  test("a run of 60 s clears the consecutive failures", () => {
    const four = crashLoop(Array(4).fill(EXIT), 1000);
    const later = crashLoop([EXIT, EXIT], 60_000, undefined, four);
    expect(later.results.every((r) => r.decision.restart)).toBe(true);
    expect(later.state.breakers.general.failures).toBe(1); // the first of the two was after a 60 s run
  });

  test("operator reset closes the breakers; the next retry restarts at once", () => {
    const open = crashLoop(Array(5).fill(EXIT), 1000);
    const r = reset(open.state);
    expect(r.events).toEqual([{ type: "breaker", class: "general", from: "open", to: "closed", failures: 0, timeout_ms: 300_000 }]);
    expect(r.state.backoff.attempt).toBe(0);
    expect(onRetryDue(r.state, open.now + 1).decision).toEqual({ restart: true, delayMs: 0, reason: "process_exit" });
  });
});

describe("engine policy: restart storms", () => {
  // Fast backoff and a high threshold, so only the storm guard holds the engine down.
  const fast = supervisionConfig({ backoff: { initialMs: 100, maxMs: 100, jitter: 0 }, breaker: { threshold: 100 } });

  test("10 restarts within 30 s, then a crash: a storm opens the breaker, named after the crashes", () => {
    const run = crashLoop(Array(11).fill(HOST_OOM), 2000, fast);
    expect(delays(run)).toEqual([...Array(10).fill(100), null]);
    const last = run.results.at(-1)!;
    expect(last.events).toEqual([
      { type: "storm", restart_count: 10, window_ms: 30_000, classification: "oom_storm" },
      { type: "breaker", class: "general", from: "closed", to: "open", failures: 11, timeout_ms: 300_000 },
    ]);
    expect(last.decision).toEqual({ restart: false, why: "breaker_open", retryAtMs: run.now + 300_000 });
  });

  test("more than 5 restarts in 60 s warn; at 10 in 60 s the next restart is delayed", () => {
    const cfg = supervisionConfig({ ...fast, storm: { stormCount: 100 } });
    const run = crashLoop(Array(11).fill(EXIT), 4900, cfg); // a restart every 5 s
    expect(ofType(run.events, "warning").map((e) => e.restart_count)).toEqual([6, 7, 8, 9, 10, 10]);
    // Restarts at 5000, 10 000, … 50 000; the 11th crash is at 54 900, its restart waits for 65 000.
    const last = run.results.at(-1)!;
    expect(last.decision).toEqual({ restart: true, delayMs: 10_100, reason: "process_exit" });
    expect(ofType(last.events, "rate_limited")).toEqual([{ type: "rate_limited", wait_ms: 10_000, restart_count: 10, window_ms: 60_000 }]);
    expect(ofType(last.events, "restart_scheduled")[0]).toMatchObject({ delay_ms: 10_100, backoff_ms: 100, next_restart_at: 65_000 });
  });

  test("operator override restarts once without clearing the storm counter", () => {
    const stormed = crashLoop(Array(11).fill(HOST_OOM), 2000, fast);
    expect(stormed.state.storm.restartCount).toBe(10);
    const o = override(stormed.state, stormed.now + 5000, fast);
    expect(o.decision).toEqual({ restart: true, delayMs: 0, reason: "out_of_memory", probe: true, override: true });
    expect(o.state.storm.restartCount).toBe(11);
    expect(o.events[0]).toEqual({ type: "breaker", class: "general", from: "open", to: "half_open", failures: 11, timeout_ms: 300_000 });
    expect(override(onStarted(o.state, stormed.now + 5000), stormed.now + 6000).decision).toEqual({ restart: false, why: "not_failed" });
  });

  test("600 s of stable running forgets the restart count", () => {
    const some = crashLoop(Array(3).fill(EXIT), 1000);
    expect(some.state.storm.restartCount).toBe(3);
    expect(onStableCheck(some.state, some.now + 599_999).state.storm.restartCount).toBe(3);
    const stable = onStableCheck(some.state, some.now + 600_000);
    expect(stable.state.storm.restartCount).toBe(0);
    expect(stable.state.backoff.attempt).toBe(0);
    expect(nextStableCheckAt(stable.state)).toBeNull();
  });
});
