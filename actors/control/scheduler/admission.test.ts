import { describe, expect, test } from "bun:test";
import { onTimeProbability, pickEviction, predictStartMs, RateLimiter, ServiceRates, expectedDecodeMs } from "./admission.ts";

describe("RateLimiter", () => {
  test("requests per second: a burst of one second, then a wait that refills", () => {
    const rl = new RateLimiter({ rps: 2 });
    expect(rl.take("a", 1, 0)).toEqual({ ok: true });
    expect(rl.take("a", 1, 0)).toEqual({ ok: true });
    expect(rl.take("a", 1, 0)).toEqual({ ok: false, reason: "rps", retry_after_ms: 500 });
    expect(rl.take("b", 1, 0)).toEqual({ ok: true }); // per identity
    expect(rl.take("a", 1, 500)).toEqual({ ok: true });
  });

  test("tokens per minute count the requested max_tokens", () => {
    const rl = new RateLimiter({ tpm: 600 }); // 10 tokens per second
    expect(rl.take("a", 500, 0).ok).toBe(true);
    expect(rl.take("a", 200, 0)).toEqual({ ok: false, reason: "tpm", retry_after_ms: 10_000 });
    expect(rl.take("a", 200, 10_000).ok).toBe(true);
    expect(new RateLimiter({}).enabled).toBe(false);
  });

  test("an identity's own limits (named keys) replace the global ones for it; 0 lifts one", () => {
    const own: Record<string, { rps?: number; tpm?: number }> = { "key:slow": { rps: 1 }, "key:free": { rps: 0 }, "key:tokens": { tpm: 60 } };
    const rl = new RateLimiter({ rps: 3, perIdentity: (id) => own[id] });
    expect(new RateLimiter({ perIdentity: () => undefined }).enabled).toBe(true);
    expect(rl.take("key:slow", 1, 0)).toEqual({ ok: true });
    expect(rl.take("key:slow", 1, 0)).toEqual({ ok: false, reason: "rps", retry_after_ms: 1000 });
    for (let i = 0; i < 50; i++) expect(rl.take("key:free", 1, 0)).toEqual({ ok: true });
    // Not named: the global rps of 3.
    for (let i = 0; i < 3; i++) expect(rl.take("token:abcdef", 1, 0)).toEqual({ ok: true });
    expect(rl.take("token:abcdef", 1, 0)).toMatchObject({ ok: false, reason: "rps" });
    // Its own tpm, and the global rps for the field it leaves unset.
    expect(rl.take("key:tokens", 60, 0)).toEqual({ ok: true });
    expect(rl.take("key:tokens", 1, 0)).toEqual({ ok: false, reason: "tpm", retry_after_ms: 1000 });
  });
});

describe("predictions", () => {
  test("a free slot means start now; otherwise the work ahead at the measured rate", () => {
    const rates = new ServiceRates();
    rates.observe("n/p", { tokens_out: 1000, decode_ms: 1000 }); // 1 token/ms per slot
    const view = { pools: [{ key: "n/p", slots: 2, free: 1 }] };
    expect(predictStartMs(view, rates, { aheadTasks: 0, aheadTokens: 0 })).toBe(0);
    const busy = { pools: [{ key: "n/p", slots: 2, free: 0 }] };
    expect(predictStartMs(busy, rates, { aheadTasks: 3, aheadTokens: 400 })).toBe(200);
    rates.observe("n/p", { tokens_out: 100, decode_ms: 1000 }); // slower now: EWMA moves
    expect(predictStartMs(busy, rates, { aheadTasks: 3, aheadTokens: 400 })).toBeGreaterThan(200);
    expect(expectedDecodeMs(view, new ServiceRates(), 20)).toBe(1200);
  });

  test("on-time probability from slack and need", () => {
    expect(onTimeProbability(undefined, 100)).toBe(1);
    expect(onTimeProbability(0, 100)).toBe(0);
    expect(onTimeProbability(1000, 100)).toBe(0.99);
    expect(onTimeProbability(40, 100)).toBe(0.01);
    expect(onTimeProbability(100, 100)).toBe(0.5);
  });
});

describe("drop-lru victim", () => {
  const q = (...at: number[]) => at.map((enqueuedAt) => ({ enqueuedAt }));
  test("batch first, oldest first; interactive only for an interactive newcomer", () => {
    expect(pickEviction({ interactive: q(1, 2), batch: q(5, 3) }, "interactive")).toEqual({ priority: "batch", index: 1 });
    expect(pickEviction({ interactive: q(4, 2), batch: [] }, "interactive")).toEqual({ priority: "interactive", index: 1 });
    expect(pickEviction({ interactive: q(1), batch: [] }, "batch")).toBeUndefined();
  });
});
