// SimClock rules: timers fire only inside advance, in time order with ties in creation order;
// cancel works; sleep honours an AbortSignal.

import { describe, expect, test } from "bun:test";
import { SimClock } from "./clock.ts";

describe("SimClock", () => {
  test("fires timers in time order, ties in creation order, with now() at the due time", async () => {
    const clock = new SimClock();
    const fired: string[] = [];
    const at = (name: string) => () => fired.push(`${name}@${clock.now()}`);
    clock.setTimeout(at("late"), 30);
    clock.setTimeout(at("tie1"), 10);
    clock.setTimeout(at("mid"), 20);
    clock.setTimeout(at("tie2"), 10);
    clock.setTimeout(at("tie3"), 10);

    await clock.advance(30);

    expect(fired).toEqual(["tie1@10", "tie2@10", "tie3@10", "mid@20", "late@30"]);
    expect(clock.now()).toBe(30);
  });

  test("fires nothing before its due time and nothing outside advance", async () => {
    const clock = new SimClock(1000);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 50);

    await clock.flush();
    await clock.advance(49);
    expect(fired).toEqual([]);
    expect(clock.now()).toBe(1049);
    expect(clock.pending()).toBe(1);

    await clock.advance(1);
    expect(fired).toEqual([1050]);
    expect(clock.pending()).toBe(0);
  });

  test("a timer set by a timer fires in the same advance when due inside it", async () => {
    const clock = new SimClock();
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push(`a@${clock.now()}`);
      clock.setTimeout(() => fired.push(`b@${clock.now()}`), 5);
      clock.setTimeout(() => fired.push(`c@${clock.now()}`), 50);
    }, 10);

    await clock.advance(20);
    expect(fired).toEqual(["a@10", "b@15"]);
    await clock.advance(40);
    expect(fired).toEqual(["a@10", "b@15", "c@60"]);
  });

  test("a negative delay is treated as zero", async () => {
    const clock = new SimClock();
    let fired = false;
    clock.setTimeout(() => (fired = true), -100);
    await clock.flush();
    expect(fired).toBe(true);
    expect(clock.now()).toBe(0);
  });

  test("cancel keeps a timer from firing", async () => {
    const clock = new SimClock();
    const fired: string[] = [];
    const a = clock.setTimeout(() => fired.push("a"), 10);
    clock.setTimeout(() => fired.push("b"), 10);
    const c = clock.setTimeout(() => fired.push("c"), 20);
    a.cancel();
    expect(clock.pending()).toBe(2);

    await clock.advance(15);
    c.cancel();
    await clock.advance(100);

    expect(fired).toEqual(["b"]);
    expect(clock.pending()).toBe(0);
  });

  test("cancel from inside an earlier timer of the same advance", async () => {
    const clock = new SimClock();
    const fired: string[] = [];
    clock.setTimeout(() => {
      fired.push("first");
      later.cancel();
    }, 10);
    const later = clock.setTimeout(() => fired.push("later"), 20);
    await clock.advance(30);
    expect(fired).toEqual(["first"]);
  });

  test("sleep resolves after the simulated delay, not before", async () => {
    const clock = new SimClock();
    let done = false;
    void clock.sleep(100).then(() => (done = true));

    await clock.advance(99);
    expect(done).toBe(false);
    await clock.advance(1);
    expect(done).toBe(true);
  });

  test("sleep rejects with the abort reason when aborted first, and frees its timer", async () => {
    const clock = new SimClock();
    const ac = new AbortController();
    const slept = clock.sleep(100, ac.signal);
    await clock.advance(40);
    expect(clock.pending()).toBe(1);

    const reason = new Error("aborted by test");
    ac.abort(reason);
    await expect(slept).rejects.toBe(reason);
    await clock.flush();
    expect(clock.pending()).toBe(0);
  });

  test("sleep with an already aborted signal rejects at once", async () => {
    const clock = new SimClock();
    const ac = new AbortController();
    ac.abort(new Error("early"));
    await expect(clock.sleep(100, ac.signal)).rejects.toThrow("early");
    expect(clock.pending()).toBe(0);
  });

  test("sleep with a signal that is never aborted resolves normally", async () => {
    const clock = new SimClock();
    const ac = new AbortController();
    let done = false;
    void clock.sleep(10, ac.signal).then(() => (done = true));
    await clock.advance(10);
    expect(done).toBe(true);
    ac.abort(new Error("too late"));
    await clock.flush();
    expect(done).toBe(true);
  });
});
