// RealClock and delays past what one host timer holds (2^31 - 1 ms): they must wait, not fire at once.

import { expect, test } from "bun:test";
import { MAX_TIMER_MS, RealClock } from "./clock.ts";

test.each([MAX_TIMER_MS + 1, 2 ** 40, Number.POSITIVE_INFINITY])("a %p ms timer does not fire before a 20 ms one", async (ms) => {
  const clock = new RealClock();
  let fired = false;
  const long = clock.setTimeout(() => (fired = true), ms);
  try {
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 20));
    await new Promise((r) => setImmediate(r));
    expect(fired).toBe(false);
  } finally {
    long.cancel();
  }
});

test("NaN and negative delays count as 0", async () => {
  const clock = new RealClock();
  await new Promise<void>((resolve) => clock.setTimeout(resolve, Number.NaN));
  await new Promise<void>((resolve) => clock.setTimeout(resolve, -5));
});
