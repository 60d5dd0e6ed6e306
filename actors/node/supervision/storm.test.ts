// Restart-storm guard: the rate limit of 10 restarts per 60 s, warnings, storm detection and its
// name, and the restart count forgotten after a stable run.

import { describe, expect, test } from "bun:test";
import { rateLimitRestart, classifyStorm, detectStorm, stormStable, INITIAL_STORM, type StormEvent, type StormState } from "./storm.ts";

/** Restarts booked at the given times, collecting the events. */
function book(times: number[], state: StormState = INITIAL_STORM) {
  const events: StormEvent[] = [];
  const waits: number[] = [];
  for (const t of times) {
    const r = rateLimitRestart(state, t, "process_exit");
    state = r.state;
    waits.push(r.waitMs);
    events.push(...r.events);
  }
  return { state, events, waits };
}

describe("storm guard", () => {
  test("10 restarts in 60 s pass; the 11th waits until the oldest leaves the window", () => {
    const times = [0, 5000, 10_000, 15_000, 20_000, 25_000, 30_000, 35_000, 40_000, 45_000];
    const ten = book(times);
    expect(ten.waits.every((w) => w === 0)).toBe(true);
    const r = rateLimitRestart(ten.state, 50_000, "process_exit");
    expect(r.waitMs).toBe(10_000); // restart at 60 000, when the one at 0 has left
    expect(r.events[0]).toEqual({ type: "rate_limited", wait_ms: 10_000, restart_count: 10, window_ms: 60_000 });
    expect(r.state.restarts.at(-1)).toEqual({ at: 60_000, label: "process_exit" });
    expect(r.state.restartCount).toBe(11);
    // The next one then waits for the restart at 5000 to leave.
    expect(rateLimitRestart(r.state, 61_000, "process_exit").waitMs).toBe(4000);
  });

  test("more than 5 restarts in 60 s warn, 5 do not", () => {
    const five = book([0, 10_000, 20_000, 30_000, 40_000]);
    expect(five.events).toEqual([]);
    const six = rateLimitRestart(five.state, 50_000, "process_exit");
    expect(six.events).toEqual([{ type: "warning", restart_count: 6, window_ms: 60_000 }]);
    // Spread out, six restarts never warn.
    expect(book([0, 15_000, 30_000, 45_000, 60_000, 75_000]).events).toEqual([]);
  });

  test("10 restarts within 30 s is a storm, named after what crashed", () => {
    const times = Array.from({ length: 10 }, (_, i) => i * 3000); // 0 … 27 000
    const oom = times.reduce<StormState>((s, t) => rateLimitRestart(s, t, "out_of_memory").state, INITIAL_STORM);
    expect(detectStorm(oom, 28_000)).toEqual({ type: "storm", restart_count: 10, window_ms: 30_000, classification: "oom_storm" });
    // At 30 000 the restart at 0 is out of the 30 s window: 9 left, no storm.
    expect(detectStorm(oom, 30_000)).toBeNull();
    expect(detectStorm(book(times.slice(0, 9)).state, 28_000)).toBeNull();
  });

  test("classification: one cause names the storm, a mix is a restart_storm", () => {
    expect(classifyStorm([{ at: 0, label: "cuda_error" }, { at: 1, label: "cuda_error" }])).toBe("cuda_storm");
    expect(classifyStorm([{ at: 0, label: "signal" }])).toBe("signal_storm");
    expect(classifyStorm([{ at: 0, label: "signal" }, { at: 1, label: "out_of_memory" }])).toBe("restart_storm");
  });

  test("the restart count is forgotten after 600 s of stable running", () => {
    const { state } = book([0, 1000, 2000]);
    expect(state.restartCount).toBe(3);
    expect(stormStable(state, 601_999, 2000)).toBe(state);
    expect(stormStable(state, 602_000, 2000)).toEqual(INITIAL_STORM);
    expect(stormStable(state, 602_000, null)).toBe(state);
  });

  test("bypass (operator override) books the restart at once but still counts it", () => {
    const ten = book(Array.from({ length: 10 }, (_, i) => i * 1000));
    const r = rateLimitRestart(ten.state, 10_000, "process_exit", undefined, true);
    expect(r.waitMs).toBe(0);
    expect(r.state.restartCount).toBe(11);
    expect(r.events.some((e) => e.type === "rate_limited")).toBe(false);
  });
});
