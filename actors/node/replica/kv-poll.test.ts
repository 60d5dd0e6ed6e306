// When the replica reads KV cache use: at once on the first ready poll, then at most every
// KV_READ_EVERY_MS and one read at a time, never for an engine that cannot say.

import { expect, test } from "bun:test";
import { SimClock } from "../../../runtime/index.ts";
import { MockEngine, type EngineAdapter } from "../../../adapters/engines/index.ts";
import { KV_READ_EVERY_MS, kvPoll } from "./kv-poll.ts";

test("one read at a time, at most every KV_READ_EVERY_MS", async () => {
  const clock = new SimClock();
  let reads = 0;
  const engine = { kvCacheUsage: async () => (reads++, 0.25) } as unknown as EngineAdapter;
  const kv = kvPoll(engine, clock);
  const first = kv.due();
  expect(await first).toBe(0.25);
  expect(kv.due()).toBeUndefined(); // the first is not marked done yet
  kv.done();
  expect(kv.due()).toBeUndefined(); // too soon
  await clock.advance(KV_READ_EVERY_MS - 1);
  expect(kv.due()).toBeUndefined();
  await clock.advance(1);
  expect(await kv.due()).toBe(0.25);
  expect(reads).toBe(2);
});

test("an engine without kvCacheUsage is never asked; the mock says busy slots over slots", async () => {
  const clock = new SimClock();
  const none = { engine: "tgi" } as unknown as EngineAdapter;
  expect(kvPoll(none, clock).due()).toBeUndefined();
  const mock = new MockEngine({ clock, slots: 4 });
  expect(await kvPoll(mock, clock).due()).toBeUndefined(); // not started: unknown
  await mock.health();
  expect(await kvPoll(mock, clock).due()).toBe(0);
});
