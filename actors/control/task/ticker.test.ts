import { expect, test } from "bun:test";
import { SimClock } from "../../../runtime/index.ts";
import { MetricsTicker, type MetricsTickMsg } from "./ticker.ts";

test("one queue-depth read per tick for all streaming tasks; removed ones hear nothing more", async () => {
  const clock = new SimClock();
  let reads = 0;
  const ticker = new MetricsTicker(clock, 1000, async () => ++reads);
  const heard: Record<string, MetricsTickMsg[]> = { a: [], b: [] };
  const a = { tell: (m: MetricsTickMsg) => void heard.a!.push(m) };
  const b = { tell: (m: MetricsTickMsg) => void heard.b!.push(m) };
  ticker.add(a);
  ticker.add(b);
  await clock.advance(999);
  expect(reads).toBe(0);
  await clock.advance(1);
  expect(reads).toBe(1);
  expect(heard.a).toEqual([{ type: "metrics-tick", queue_depth: 1 }]);
  expect(heard.b![0]).toBe(heard.a![0]!); // the same message for every task
  ticker.remove(a);
  await clock.advance(1000);
  expect([heard.a!.length, heard.b!.length, reads]).toEqual([1, 2, 2]);
  // No streaming task, no timer: nothing is read until one is added again.
  ticker.remove(b);
  await clock.advance(5000);
  expect(reads).toBe(2);
  ticker.add(a);
  await clock.advance(1000);
  expect([heard.a!.length, reads]).toEqual([2, 3]);
  ticker.stop();
  await clock.advance(5000);
  expect(reads).toBe(3);
});
