// Engine restart backoff: the delay sequence (doubling, cap, jitter, CUDA, floor) and the attempt
// count with its reset after a stable run.

import { describe, expect, test } from "bun:test";
import { backoffStable, engineBackoffDelay, nextBackoff, DEFAULT_ENGINE_BACKOFF, INITIAL_BACKOFF } from "./backoff.ts";

const NO_JITTER = 0.5; // random 0.5 puts the jitter at exactly 0

describe("backoff delay", () => {
  test("1 s doubling: 1, 2, 4, 8, 16, 32 s, then capped at 60 s", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8, 20, 1000].map((n) => engineBackoffDelay(n, false, NO_JITTER));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]);
  });

  test("the exponent stops at 10 when the maximum would allow more", () => {
    const config = { ...DEFAULT_ENGINE_BACKOFF, maxMs: 10_000_000 };
    expect(engineBackoffDelay(11, false, NO_JITTER, config)).toBe(1_024_000);
    expect(engineBackoffDelay(12, false, NO_JITTER, config)).toBe(1_024_000);
    expect(engineBackoffDelay(500, false, NO_JITTER, config)).toBe(1_024_000);
  });

  test("jitter stays within ±10 % and never exceeds the maximum", () => {
    expect(engineBackoffDelay(3, false, 0)).toBe(3600);
    expect(engineBackoffDelay(3, false, 0.999999)).toBe(4400);
    for (let r = 0; r < 1; r += 0.05) {
      const d = engineBackoffDelay(4, false, r);
      expect(d).toBeGreaterThanOrEqual(7200);
      expect(d).toBeLessThanOrEqual(8800);
    }
    expect(engineBackoffDelay(7, false, 0.999999)).toBe(60_000); // +10 % of 60 s is cut back to 60 s
    expect(engineBackoffDelay(7, false, 0)).toBe(54_000);
  });

  test("CUDA errors wait twice as long, within the same cap", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => engineBackoffDelay(n, true, NO_JITTER))).toEqual([2000, 4000, 8000, 16_000, 32_000, 60_000]);
  });

  test("an optional minimum delay is a floor after jitter", () => {
    const config = { ...DEFAULT_ENGINE_BACKOFF, initialMs: 100, minDelayMs: 500 };
    expect(engineBackoffDelay(1, false, 0, config)).toBe(500);
    expect(engineBackoffDelay(4, false, NO_JITTER, config)).toBe(800);
  });
});

describe("backoff state", () => {
  test("consecutive crashes climb the sequence", () => {
    let state = INITIAL_BACKOFF;
    const seen: number[] = [];
    let t = 0;
    for (let i = 0; i < 4; i++) {
      const step = nextBackoff(state, { now: t, runningSince: t - 5000, cuda: false, random: NO_JITTER });
      seen.push(step.delayMs);
      state = step.state;
      t += step.delayMs + 5000;
    }
    expect(seen).toEqual([1000, 2000, 4000, 8000]);
    expect(state.attempt).toBe(4);
  });

  test("a run of 300 s without a crash starts over at 1 s; 299.999 s does not", () => {
    const state = { attempt: 6 };
    expect(nextBackoff(state, { now: 1_300_000, runningSince: 1_000_000, cuda: false, random: NO_JITTER }).delayMs).toBe(1000);
    expect(nextBackoff(state, { now: 1_299_999, runningSince: 1_000_000, cuda: false, random: NO_JITTER }).delayMs).toBe(60_000);
    expect(backoffStable(state, 1_300_000, 1_000_000)).toEqual({ attempt: 0 });
    expect(backoffStable(state, 1_300_000, null)).toBe(state); // nothing running: nothing earned
  });
});
