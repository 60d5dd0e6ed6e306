// The only module that touches real timers and wall time. Everything else takes a Clock,
// so tests drive time with SimClock instead of sleeping.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch (RealClock) or since the simulation started (SimClock). */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  /** Resolves after `ms`; rejects with the signal's reason when aborted first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function sleepWith(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      timer.cancel();
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The longest delay one host timer takes (2^31 - 1 ms, about 24.8 days): a longer one overflows
 * and fires at once. RealClock waits out longer delays in steps of this size.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export class RealClock implements Clock {
  now(): number {
    return Date.now();
  }
  /** A delay past MAX_TIMER_MS (Infinity included) is waited out in steps; NaN or < 0 counts as 0. */
  setTimeout(fn: () => void, ms: number): Timer {
    let remaining = ms > 0 ? ms : 0;
    let handle: ReturnType<typeof setTimeout>;
    const arm = () => {
      const step = Math.min(remaining, MAX_TIMER_MS);
      remaining -= step;
      handle = setTimeout(remaining > 0 ? arm : fn, step);
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }
}

interface SimTimer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Lets pending promise callbacks (microtasks) run to completion. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Simulated time. Timers fire only inside `advance`, in time order (ties in creation order),
 * and pending promise work is flushed after each one, so actor chains triggered by a timer
 * settle before the next timer fires.
 */
export class SimClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: SimTimer[] = [];

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const timer: SimTimer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }

  /** Number of timers waiting to fire. */
  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing every timer due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.current + ms;
    await flushMicrotasks();
    for (;;) {
      const next = this.nextDue(target);
      if (!next) break;
      this.current = Math.max(this.current, next.at);
      next.cancelled = true;
      next.fn();
      await flushMicrotasks();
    }
    this.current = target;
    this.timers = this.timers.filter((t) => !t.cancelled);
    await flushMicrotasks();
  }

  /** Flushes pending promise work without moving time. */
  flush(): Promise<void> {
    return this.advance(0);
  }

  private nextDue(limit: number): SimTimer | undefined {
    let best: SimTimer | undefined;
    for (const t of this.timers) {
      if (t.cancelled || t.at > limit) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
