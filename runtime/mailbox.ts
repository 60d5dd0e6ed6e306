// Bounded FIFO with a declared overflow policy. A refused or dropped item is reported to the
// owner (who counts it as a dead letter); nothing disappears silently.

export type OverflowPolicy =
  /** Refuse the newcomer; the sender sees `{ok:false, reason:"full"}`. */
  | "reject"
  /** Accept the newcomer and drop the oldest queued item as a dead letter. */
  | "drop-oldest";

export interface MailboxOptions {
  capacity: number;
  overflow: OverflowPolicy;
}

export const DEFAULT_MAILBOX: MailboxOptions = { capacity: 1024, overflow: "reject" };

export type PushResult<T> = { accepted: true; dropped?: T } | { accepted: false };

export class Mailbox<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  constructor(readonly options: MailboxOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(`mailbox capacity must be a positive integer, got ${options.capacity}`);
    }
  }

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): PushResult<T> {
    if (this.size < this.options.capacity) {
      this.items.push(item);
      return { accepted: true };
    }
    if (this.options.overflow === "reject") return { accepted: false };
    const dropped = this.shift();
    this.items.push(item);
    return { accepted: true, dropped };
  }

  /** Appends past the capacity: for system messages that must never be refused. */
  force(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    // Compact once the consumed prefix dominates, keeping shift O(1) amortized.
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Empties the mailbox, returning what was left. */
  drainAll(): T[] {
    const rest = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return rest;
  }
}
