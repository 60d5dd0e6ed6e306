import { expect, test } from "bun:test";
import type { StreamEvent } from "../../../contract/index.ts";
import { SubscriberLimits } from "./subscribers.ts";

const sink = (seen: StreamEvent[] = []) => ({ push: (e: StreamEvent) => void seen.push(e) });
const end: StreamEvent = { type: "end", data: { tokens_out: 0, decode_ms: 0, stop_reason: "length" } } as StreamEvent;

test("one task's subscribers and all subscribers are bounded; a release gives the slot back once", () => {
  const limits = new SubscriberLimits({ perTask: 2, total: 3 });
  const a1 = limits.acquire("a", sink());
  const a2 = limits.acquire("a", sink());
  expect(limits.acquire("a", sink())).toEqual({ ok: false, scope: "task", limit: 2 });
  const b1 = limits.acquire("b", sink());
  expect(limits.acquire("c", sink())).toEqual({ ok: false, scope: "total", limit: 3 });
  expect(a1.ok && a2.ok && b1.ok).toBe(true);
  if (!a1.ok || !b1.ok) return;
  a1.release();
  a1.release(); // twice is once
  expect(limits.size).toBe(2);
  expect(limits.acquire("a", sink()).ok).toBe(true);
  expect(limits.acquire("c", sink())).toEqual({ ok: false, scope: "total", limit: 3 });
  // The stream's last event releases too, after the subscriber got it.
  const seen: StreamEvent[] = [];
  const c = new SubscriberLimits({ perTask: 1, total: 1 }).acquire("x", sink(seen));
  expect(c.ok).toBe(true);
  if (c.ok) c.sink.push(end);
  expect(seen).toEqual([end]);
  b1.sink.push(end);
  expect(limits.size).toBe(2);
  b1.release();
  expect(limits.size).toBe(2);
});
