// Pure pieces of admission: per-token rate limits, measured service rates behind
// predicted_start_ms and on_time_probability, and the drop-lru victim choice. Timestamps come in
// as arguments; nothing here reads a clock.

import type { Priority } from "../../../contract/index.ts";

export interface RateLimits {
  /** Requests per second per API token (0/undefined = off). Burst = one second's worth. */
  rps?: number;
  /** Requested tokens (max_tokens) per minute per API token (0/undefined = off). */
  tpm?: number;
  /**
   * An identity's own limits (named client keys): a field it sets replaces the one above for it;
   * 0 lifts that limit for it.
   */
  perIdentity?: (identity: string) => { rps?: number; tpm?: number } | undefined;
}

interface Bucket {
  level: number;
  at: number;
}

/** Token buckets per identity. `take` answers how long to wait when over the limit. */
export class RateLimiter {
  private readonly requests = new Map<string, Bucket>();
  private readonly tokens = new Map<string, Bucket>();

  constructor(private readonly limits: RateLimits) {}

  get enabled(): boolean {
    return Boolean(this.limits.rps || this.limits.tpm || this.limits.perIdentity);
  }

  take(identity: string, tokens: number, now: number): { ok: true } | { ok: false; reason: "rps" | "tpm"; retry_after_ms: number } {
    const own = this.limits.perIdentity?.(identity);
    const rps = own?.rps ?? this.limits.rps;
    const tpm = own?.tpm ?? this.limits.tpm;
    // A bucket holds at least one request, or an rps below 1 would refuse everything.
    const req = rps ? this.refill(this.requests, identity, Math.max(1, rps), rps / 1000, now) : undefined;
    const tok = tpm ? this.refill(this.tokens, identity, tpm, tpm / 60_000, now) : undefined;
    if (req && req.level < 1) return { ok: false, reason: "rps", retry_after_ms: Math.ceil((1 - req.level) / (rps! / 1000)) };
    if (tok && tok.level < tokens) {
      // A request larger than the whole minute's allowance can never pass: say a minute.
      const missing = Math.min(tokens, tpm!) - tok.level;
      return { ok: false, reason: "tpm", retry_after_ms: Math.max(1, Math.ceil(missing / (tpm! / 60_000))) };
    }
    if (req) req.level -= 1;
    if (tok) tok.level -= tokens;
    return { ok: true };
  }

  private refill(map: Map<string, Bucket>, key: string, capacity: number, perMs: number, now: number): Bucket {
    let b = map.get(key);
    if (!b) {
      b = { level: capacity, at: now };
      map.set(key, b);
    }
    b.level = Math.min(capacity, b.level + Math.max(0, now - b.at) * perMs);
    b.at = now;
    return b;
  }
}

/** Assumed before a pool has finished any task: per-slot decode rate and time to first token. */
export const DEFAULT_TOKENS_PER_S = 20;
export const DEFAULT_FIRST_TOKEN_MS = 200;

interface Rate {
  tokensPerMs: number;
  firstTokenMs: number;
  samples: number;
}

/** Observed per-slot decode rate and first-token time per pool (EWMA). */
export class ServiceRates {
  private readonly rates = new Map<string, Rate>();

  observe(pool: string, sample: { tokens_out: number; decode_ms: number; first_token_ms?: number }): void {
    const r = this.rates.get(pool) ?? { tokensPerMs: DEFAULT_TOKENS_PER_S / 1000, firstTokenMs: DEFAULT_FIRST_TOKEN_MS, samples: 0 };
    const alpha = r.samples === 0 ? 1 : 0.2;
    if (sample.tokens_out > 0 && sample.decode_ms > 0) {
      r.tokensPerMs = (1 - alpha) * r.tokensPerMs + alpha * (sample.tokens_out / sample.decode_ms);
    }
    if (sample.first_token_ms !== undefined) r.firstTokenMs = (1 - alpha) * r.firstTokenMs + alpha * sample.first_token_ms;
    r.samples++;
    this.rates.set(pool, r);
  }

  /** Per-slot tokens/ms of a pool, the default when never observed. */
  tokensPerMs(pool: string): number {
    return this.rates.get(pool)?.tokensPerMs ?? DEFAULT_TOKENS_PER_S / 1000;
  }

  firstTokenMs(pool: string): number {
    return this.rates.get(pool)?.firstTokenMs ?? DEFAULT_FIRST_TOKEN_MS;
  }

  measured(pool: string): boolean {
    return (this.rates.get(pool)?.samples ?? 0) > 0;
  }
}

export interface CapacityView {
  /** Ready pools holding the model: their slots and per-slot rate. */
  pools: { key: string; slots: number; free: number }[];
}

/**
 * When a task would start: 0 if a slot is free for it now, else the time the pools need to
 * work off the tokens ahead of it (queued ahead + remaining of running) at their measured rates.
 */
export function predictStartMs(view: CapacityView, rates: ServiceRates, work: { aheadTasks: number; aheadTokens: number }): number {
  const free = view.pools.reduce((n, p) => n + p.free, 0);
  if (work.aheadTasks < free) return 0;
  const throughput = view.pools.reduce((n, p) => n + p.slots * rates.tokensPerMs(p.key), 0);
  if (throughput <= 0) return Math.round(DEFAULT_FIRST_TOKEN_MS * (work.aheadTasks + 1));
  return Math.round(work.aheadTokens / throughput);
}

/** Expected decode time of `tokens` on the fastest pool of the view. */
export function expectedDecodeMs(view: CapacityView, rates: ServiceRates, tokens: number): number {
  const best = Math.max(0, ...view.pools.map((p) => rates.tokensPerMs(p.key)));
  const firstToken = Math.min(...view.pools.map((p) => rates.firstTokenMs(p.key)), DEFAULT_FIRST_TOKEN_MS);
  return Math.round(firstToken + tokens / (best > 0 ? best : DEFAULT_TOKENS_PER_S / 1000));
}

/**
 * Chance to finish before the deadline from the slack left and the time still needed: certain
 * with 50 % headroom, hopeless below half the time needed, linear in between.
 */
export function onTimeProbability(slackMs: number | undefined, neededMs: number): number {
  if (slackMs === undefined) return 1;
  if (slackMs <= 0) return 0;
  if (neededMs <= 0) return 0.99;
  const ratio = slackMs / neededMs;
  if (ratio >= 1.5) return 0.99;
  if (ratio <= 0.5) return 0.01;
  return Math.round((0.01 + ((ratio - 0.5) / 1.0) * 0.98) * 100) / 100;
}

/**
 * drop-lru: the oldest queued item of the same or lower priority than the newcomer, batch first.
 * Returns the priority class and index, or undefined when nothing may be evicted.
 */
export function pickEviction<T extends { enqueuedAt: number }>(
  queues: Record<Priority, readonly T[]>,
  newcomer: Priority,
): { priority: Priority; index: number } | undefined {
  const classes: Priority[] = newcomer === "interactive" ? ["batch", "interactive"] : ["batch"];
  for (const p of classes) {
    const q = queues[p];
    if (q.length === 0) continue;
    let oldest = 0;
    for (let i = 1; i < q.length; i++) if (q[i]!.enqueuedAt < q[oldest]!.enqueuedAt) oldest = i;
    return { priority: p, index: oldest };
  }
  return undefined;
}
