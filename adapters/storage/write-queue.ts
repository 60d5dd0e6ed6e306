// The state store's write queue: writes wait here and are committed in batches, one transaction
// each, after `flushMs` or as soon as `maxBatch` have gathered, and at once after the previous
// batch when more queued meanwhile (group commit). Each write's promise resolves only once its
// transaction committed. A failed commit (disk full, I/O error) rejects the writes that asked for
// no retry and keeps the others, in order, at the head of the queue, retried with backoff: a
// transcript is never dropped, and the backlog it leaves is what admission looks at. A write the
// database refuses for its content alone fails by itself, loudly, without holding up the rest.

import type { Op, OpResult } from "./sqlite-ops.ts";
import { StoreClosedError, type StoreKind, type StoreObserver } from "./state-store.ts";
import { RealClock, type Clock, type Timer } from "../../runtime/index.ts";

export interface WriteQueueOptions {
  /** Commits the ops in one transaction; resolves with one result per op, or rejects. */
  commit(ops: Op[]): Promise<OpResult[]>;
  /** How long a write may wait for others to share its transaction. */
  flushMs: number;
  maxBatch: number;
  /** The backlog above which `backlogged()` is true. */
  highWater: { items: number; bytes: number };
  observer?: StoreObserver;
  /** First retry delay after a failed commit; doubles up to `retryMaxMs`. */
  retryMs?: number;
  retryMaxMs?: number;
  /** Times the flush delay and retries: real time unless a test injects one. */
  clock?: Clock;
}

interface Waiter {
  resolve(result: OpResult): void;
  reject(error: Error): void;
}

interface Item {
  seq: number;
  op: Op;
  kind: StoreKind;
  bytes: number;
  retry: boolean;
  key?: string;
  waiters: Waiter[];
}

export class WriteQueue {
  private queue: Item[] = [];
  private readonly byKey = new Map<string, Item>();
  private queuedBytes = 0;
  private seq = 0;
  private settledThrough = 0;
  private inflight = false;
  private timer: Timer | undefined;
  private readonly clock: Clock;
  private failures = 0;
  private retryDelay: number;
  private closed = false;
  private readonly flushWaiters: { target: number; resolve: () => void }[] = [];

  constructor(private readonly options: WriteQueueOptions) {
    this.clock = options.clock ?? new RealClock();
    this.retryDelay = options.retryMs ?? 50;
  }

  /** Queues one write. `key`: a later write with the same key replaces this one while both wait. */
  push(kind: StoreKind, op: Op, options: { bytes: number; retry?: boolean; key?: string }): Promise<OpResult> {
    if (this.closed) return Promise.reject(new StoreClosedError());
    return new Promise<OpResult>((resolve, reject) => {
      const waiter = { resolve, reject };
      const same = options.key === undefined ? undefined : this.byKey.get(options.key);
      if (same) {
        this.queuedBytes += options.bytes - same.bytes;
        same.op = op;
        same.bytes = options.bytes;
        same.retry ||= options.retry ?? false;
        same.waiters.push(waiter);
        this.seq++; // flush() after this push waits for the item, which is older
        return;
      }
      const item: Item = { seq: ++this.seq, op, kind, bytes: options.bytes, retry: options.retry ?? false, key: options.key, waiters: [waiter] };
      this.queue.push(item);
      if (item.key !== undefined) this.byKey.set(item.key, item);
      this.queuedBytes += item.bytes;
      this.report();
      this.schedule();
    });
  }

  depth(): { items: number; bytes: number } {
    return { items: this.queue.length, bytes: this.queuedBytes };
  }

  backlogged(): boolean {
    const { items, bytes } = this.options.highWater;
    return this.queue.length > items || this.queuedBytes > bytes;
  }

  /** Resolves once every write queued so far has committed (or was refused). */
  flush(): Promise<void> {
    const target = this.seq;
    if (this.settledThrough >= target) return Promise.resolve();
    return new Promise((resolve) => {
      this.flushWaiters.push({ target, resolve });
      this.schedule(true);
    });
  }

  /** Refuses new writes and waits for the queued ones, at most `timeoutMs`; answers how many were left. */
  async close(timeoutMs: number): Promise<number> {
    this.closed = true;
    let timer: Timer | undefined;
    await Promise.race([this.flush(), new Promise<void>((r) => (timer = this.clock.setTimeout(r, timeoutMs)))]);
    timer?.cancel();
    this.timer?.cancel();
    this.timer = undefined;
    const left = this.queue.length;
    for (const item of this.queue.splice(0)) for (const w of item.waiters) w.reject(new StoreClosedError());
    this.byKey.clear();
    this.queuedBytes = 0;
    return left;
  }

  private schedule(now = false): void {
    if (this.inflight || this.queue.length === 0) return;
    if (this.failures > 0 && this.timer) return; // a retry is already timed
    if (now || this.queue.length >= this.options.maxBatch) {
      this.timer?.cancel();
      this.timer = undefined;
      void this.run();
    } else if (!this.timer) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        void this.run();
      }, this.options.flushMs);
    }
  }

  private async run(): Promise<void> {
    if (this.inflight || this.queue.length === 0) return;
    this.inflight = true;
    const batch = this.queue.slice(0, this.options.maxBatch);
    for (const item of batch) if (item.key !== undefined) this.byKey.delete(item.key);
    let results: OpResult[] | undefined;
    let error: string | undefined;
    try {
      results = await this.options.commit(batch.map((i) => i.op));
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    this.inflight = false;
    if (results) {
      this.queue.splice(0, batch.length);
      for (const item of batch) this.queuedBytes -= item.bytes;
      if (this.failures > 0) this.options.observer?.recovered?.(this.failures);
      this.failures = 0;
      this.retryDelay = this.options.retryMs ?? 50;
      const counts = new Map<StoreKind, number>();
      batch.forEach((item, i) => {
        const result = results![i] ?? null;
        if (result?.error !== undefined) {
          // Refused for its content: retrying cannot help, so it fails loudly instead.
          this.options.observer?.failed?.([item.kind], result.error, undefined);
          for (const w of item.waiters) w.reject(new Error(`could not write to the state store: ${result.error}`));
          return;
        }
        counts.set(item.kind, (counts.get(item.kind) ?? 0) + 1);
        for (const w of item.waiters) w.resolve(result);
      });
      for (const [kind, n] of counts) this.options.observer?.committed?.(kind, n);
    } else {
      // Refuse what may fail (its caller answers an error); keep the rest, in order, for a retry.
      const kept = batch.filter((i) => i.retry);
      const refused = batch.filter((i) => !i.retry);
      this.queue.splice(0, batch.length, ...kept);
      for (const item of kept) if (item.key !== undefined && !this.byKey.has(item.key)) this.byKey.set(item.key, item);
      for (const item of refused) {
        this.queuedBytes -= item.bytes;
        for (const w of item.waiters) w.reject(new Error(`could not write to the state store: ${error}`));
      }
      this.failures++;
      const delay = kept.length > 0 ? this.retryDelay : undefined;
      this.options.observer?.failed?.([...new Set(batch.map((i) => i.kind))], error!, delay);
      if (delay !== undefined) {
        this.retryDelay = Math.min(this.options.retryMaxMs ?? 5000, this.retryDelay * 2);
        this.timer = this.clock.setTimeout(() => {
          this.timer = undefined;
          void this.run();
        }, delay);
      }
    }
    this.settledThrough = this.queue.length > 0 ? this.queue[0]!.seq - 1 : this.seq;
    for (let i = this.flushWaiters.length - 1; i >= 0; i--) {
      const w = this.flushWaiters[i]!;
      if (w.target <= this.settledThrough) {
        this.flushWaiters.splice(i, 1);
        w.resolve();
      }
    }
    this.report();
    if (!this.timer) this.schedule(this.flushWaiters.length > 0 || this.queue.length >= this.options.maxBatch || results !== undefined);
  }

  private report(): void {
    this.options.observer?.queue?.(this.queue.length, this.queuedBytes);
  }
}
