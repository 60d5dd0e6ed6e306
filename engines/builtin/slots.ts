// The engine's slots: a fixed set of sequences, each running one request at a time. A request
// that finds every slot busy waits, first come first served (llama-server's "deferred"
// requests); one whose client goes away while waiting leaves the queue.

export class SlotWaitAborted extends Error {
  constructor() {
    super("the request was canceled while waiting for a free slot");
    this.name = "SlotWaitAborted";
  }
}

export class SlotPoolClosed extends Error {
  constructor() {
    super("the engine is shutting down");
    this.name = "SlotPoolClosed";
  }
}

interface Waiter<T> {
  resolve(slot: T): void;
  reject(error: Error): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class SlotPool<T> {
  private readonly free: T[];
  private readonly waiting: Waiter<T>[] = [];
  private closed = false;

  constructor(readonly slots: readonly T[]) {
    if (slots.length === 0) throw new Error("a slot pool needs at least one slot");
    this.free = [...slots];
  }

  get busy(): number {
    return this.slots.length - this.free.length;
  }

  /** Requests waiting for a slot. */
  get deferred(): number {
    return this.waiting.length;
  }

  isBusy(slot: T): boolean {
    return !this.free.includes(slot);
  }

  /** The lowest free slot, or the next one released; rejects when `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<T> {
    if (this.closed) return Promise.reject(new SlotPoolClosed());
    if (signal?.aborted) return Promise.reject(new SlotWaitAborted());
    if (this.free.length > 0) return Promise.resolve(this.takeLowest());
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new SlotWaitAborted());
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.waiting.push(waiter);
    });
  }

  release(slot: T): void {
    if (!this.isBusy(slot)) return;
    const next = this.waiting.shift();
    if (next) {
      if (next.onAbort) next.signal?.removeEventListener("abort", next.onAbort);
      next.resolve(slot); // handed over directly: nobody can overtake the queue
    } else {
      this.free.push(slot);
    }
  }

  /** Refuses new requests and fails the waiting ones (shutdown). */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) {
      if (w.onAbort) w.signal?.removeEventListener("abort", w.onAbort);
      w.reject(new SlotPoolClosed());
    }
  }

  private takeLowest(): T {
    let best = 0;
    for (let i = 1; i < this.free.length; i++) if (this.slots.indexOf(this.free[i]!) < this.slots.indexOf(this.free[best]!)) best = i;
    return this.free.splice(best, 1)[0]!;
  }
}
