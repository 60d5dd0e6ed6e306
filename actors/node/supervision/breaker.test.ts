// Circuit breaker: opening after the threshold, the open period and its half-open probe, closing
// after a stable run, the doubled timeout of a failed probe, reset, trip and operator probe.

import { describe, expect, test } from "bun:test";
import {
  breakerCheck,
  breakerFailure,
  breakerProbe,
  breakerReset,
  breakerStable,
  breakerTrip,
  initialBreaker,
  DEFAULT_BREAKER,
  type BreakerState,
} from "./breaker.ts";

/** `n` failures at times 0, 1000, 2000, … from a closed breaker. */
function failTimes(n: number, state: BreakerState = initialBreaker()) {
  const events = [];
  for (let i = 0; i < n; i++) {
    const r = breakerFailure(state, i * 1000);
    state = r.state;
    events.push(...r.events);
  }
  return { state, events };
}

describe("circuit breaker", () => {
  test("stays closed for 4 consecutive failures and opens on the 5th", () => {
    const four = failTimes(4);
    expect(four.state.phase).toBe("closed");
    expect(four.events).toEqual([]);
    expect(breakerCheck(four.state, 4000).allowed).toBe(true);
    const five = failTimes(5);
    expect(five.state).toEqual({ phase: "open", failures: 5, openedAt: 4000, timeoutMs: 300_000 });
    expect(five.events).toEqual([{ from: "closed", to: "open", failures: 5 }]);
  });

  test("the threshold is configurable", () => {
    const config = { ...DEFAULT_BREAKER, threshold: 3 };
    let s = initialBreaker(config);
    for (let i = 0; i < 3; i++) s = breakerFailure(s, i, config).state;
    expect(s.phase).toBe("open");
  });

  test("open refuses restarts until 300 s have passed, then lets one probe through as half-open", () => {
    const { state } = failTimes(5); // opened at 4000
    expect(breakerCheck(state, 303_999)).toEqual({ state, events: [], allowed: false, retryAtMs: 304_000 });
    const probe = breakerCheck(state, 304_000);
    expect(probe.allowed).toBe(true);
    expect(probe.state.phase).toBe("half_open");
    expect(probe.events).toEqual([{ from: "open", to: "half_open", failures: 5 }]);
  });

  test("a probe that stays up 60 s closes the breaker and clears the failures", () => {
    const half = breakerCheck(failTimes(5).state, 304_000).state;
    expect(breakerStable(half, 364_999, 305_000).state.phase).toBe("half_open");
    const closed = breakerStable(half, 365_000, 305_000);
    expect(closed.state).toEqual(initialBreaker());
    expect(closed.events).toEqual([{ from: "half_open", to: "closed", failures: 0 }]);
  });

  test("a failed probe reopens with the timeout doubled, and doubles again up to the cap", () => {
    let s = breakerCheck(failTimes(5).state, 304_000).state;
    const reopened = breakerFailure(s, 310_000);
    expect(reopened.state).toEqual({ phase: "open", failures: 6, openedAt: 310_000, timeoutMs: 600_000 });
    expect(reopened.events).toEqual([{ from: "half_open", to: "open", failures: 6 }]);
    expect(breakerCheck(reopened.state, 909_999).allowed).toBe(false);
    s = breakerCheck(reopened.state, 910_000).state;
    expect(breakerFailure(s, 911_000).state.timeoutMs).toBe(1_200_000);
    const capped = { ...s, timeoutMs: 3_000_000 };
    expect(breakerFailure(capped, 911_000).state.timeoutMs).toBe(3_600_000);
  });

  test("a stable run while closed clears the count of consecutive failures", () => {
    const three = failTimes(3).state;
    const cleared = breakerStable(three, 70_000, 10_000);
    expect(cleared.state.failures).toBe(0);
    expect(cleared.events).toEqual([]); // no transition: it was closed all along
    expect(failTimes(2, cleared.state).state.phase).toBe("closed");
    expect(breakerStable(three, 69_999, 10_000).state.failures).toBe(3);
  });

  test("manual reset closes with no failures and the first timeout", () => {
    const open = breakerFailure({ phase: "half_open", failures: 7, openedAt: 0, timeoutMs: 600_000 }, 1000).state;
    const r = breakerReset(open);
    expect(r.state).toEqual({ phase: "closed", failures: 0, openedAt: null, timeoutMs: 300_000 });
    expect(r.events).toEqual([{ from: "open", to: "closed", failures: 0 }]);
  });

  test("a trip opens at once; a probe opens the way for one start", () => {
    const tripped = breakerTrip(initialBreaker(), 5000);
    expect(tripped.state).toEqual({ phase: "open", failures: 0, openedAt: 5000, timeoutMs: 300_000 });
    expect(tripped.events).toEqual([{ from: "closed", to: "open", failures: 0 }]);
    const probe = breakerProbe(tripped.state);
    expect(probe.state.phase).toBe("half_open");
    expect(breakerCheck(probe.state, 5001).allowed).toBe(true);
  });
});
