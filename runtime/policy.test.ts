// Restart intensity and exponential backoff are pure functions: tested with plain numbers, no clock.

import { describe, expect, test } from "bun:test";
import { backoffDelay, checkRestartIntensity, type BackoffPolicy } from "./policy.ts";

describe("checkRestartIntensity", () => {
  const intensity = { maxRestarts: 3, periodMs: 1000 };

  test("allows up to maxRestarts inside the window, refuses the next", () => {
    let history: number[] = [];
    const verdicts: boolean[] = [];
    for (const now of [0, 100, 200, 300]) {
      const r = checkRestartIntensity(history, now, intensity);
      verdicts.push(r.allowed);
      history = r.history;
    }
    expect(verdicts).toEqual([true, true, true, false]);
    expect(history).toEqual([0, 100, 200, 300]);
  });

  test("prunes restarts that fell out of the window (boundary excluded)", () => {
    const r = checkRestartIntensity([0, 100, 200], 1100, intensity);
    // 1100 - 100 = 1000 is not < 1000: 0 and 100 are both out.
    expect(r.history).toEqual([200, 1100]);
    expect(r.allowed).toBe(true);

    const justInside = checkRestartIntensity([0, 101, 200], 1100, intensity);
    expect(justInside.history).toEqual([101, 200, 1100]);
    expect(justInside.allowed).toBe(true);
  });

  test("a burst after a quiet window is allowed again", () => {
    const full = checkRestartIntensity([0, 10, 20], 30, intensity);
    expect(full.allowed).toBe(false);
    const later = checkRestartIntensity(full.history, 5000, intensity);
    expect(later.allowed).toBe(true);
    expect(later.history).toEqual([5000]);
  });

  test("does not mutate the history it is given", () => {
    const history = [0, 100];
    checkRestartIntensity(history, 2000, intensity);
    expect(history).toEqual([0, 100]);
  });

  test("maxRestarts 0 refuses the first restart", () => {
    expect(checkRestartIntensity([], 0, { maxRestarts: 0, periodMs: 1000 }).allowed).toBe(false);
  });
});

describe("backoffDelay", () => {
  const policy: BackoffPolicy = { initialMs: 1000, maxMs: 10_000 };

  test("doubles from initialMs and caps at maxMs", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelay(a, policy, 0.5));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });

  test("honours a custom factor", () => {
    const delays = [1, 2, 3].map((a) => backoffDelay(a, { ...policy, factor: 3 }, 0));
    expect(delays).toEqual([1000, 3000, 9000]);
  });

  test("huge attempt numbers stay finite and capped", () => {
    expect(backoffDelay(10_000, policy, 0.5)).toBe(10_000);
    expect(backoffDelay(0, policy, 0.5)).toBe(1000);
  });

  test("jitter ±10%: random=0 gives -10%, random→1 gives +10%", () => {
    const jittered = { ...policy, jitter: 0.1 };
    expect(backoffDelay(1, jittered, 0)).toBe(900);
    expect(backoffDelay(1, jittered, 0.5)).toBe(1000);
    expect(backoffDelay(1, jittered, 0.999999)).toBe(1100);
    expect(backoffDelay(3, jittered, 0)).toBe(3600);
    expect(backoffDelay(3, jittered, 0.999999)).toBe(4400);
  });

  test("jittered delays stay within ±10% of the base for any random", () => {
    const jittered = { ...policy, jitter: 0.1 };
    for (let attempt = 1; attempt <= 4; attempt++) {
      const base = 1000 * 2 ** (attempt - 1);
      for (let i = 0; i < 100; i++) {
        const d = backoffDelay(attempt, jittered, i / 100);
        expect(d).toBeGreaterThanOrEqual(base * 0.9);
        expect(d).toBeLessThanOrEqual(base * 1.1);
      }
    }
  });

  test("jitter never pushes a delay above maxMs", () => {
    const jittered = { ...policy, jitter: 0.1 };
    expect(backoffDelay(5, jittered, 0.999999)).toBe(10_000);
    expect(backoffDelay(5, jittered, 0)).toBe(9000);
    for (let i = 0; i < 100; i++) expect(backoffDelay(20, jittered, i / 100)).toBeLessThanOrEqual(10_000);
  });
});
