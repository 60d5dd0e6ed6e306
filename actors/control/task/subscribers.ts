// Bounds on stream subscribers: how many may watch one task, and how many may be open in all.
// A subscriber holds a response, its buffer and a place in the task's fan-out, so a client that
// opens the same stream thousands of times must be refused before it holds them. A subscription
// is counted from the moment it is asked for until it is released: its unsubscribe, or the stream's
// last event (`end` or `error`), whichever comes first.

import type { StreamEvent, StreamSink } from "../../../contract/index.ts";

export interface SubscriberLimitsOptions {
  /** Open subscribers of one task (ORCHD_MAX_SUBSCRIBERS_PER_TASK). */
  perTask: number;
  /** Open subscribers of all tasks together (ORCHD_MAX_SUBSCRIBERS). */
  total: number;
}

export const SUBSCRIBER_DEFAULTS: SubscriberLimitsOptions = { perTask: 64, total: 20_000 };

export type SlotOutcome = { ok: true; sink: StreamSink; release(): void } | { ok: false; scope: "task" | "total"; limit: number };

export class SubscriberLimits {
  private readonly perTask = new Map<string, number>();
  private open = 0;

  constructor(private readonly limits: SubscriberLimitsOptions = SUBSCRIBER_DEFAULTS) {}

  /** Open subscribers now, for metrics and tests. */
  get size(): number {
    return this.open;
  }

  /** Takes a slot for one subscriber of `taskId`; its sink gives the slot back on the last event. */
  acquire(taskId: string, sink: StreamSink): SlotOutcome {
    if (this.open >= this.limits.total) return { ok: false, scope: "total", limit: this.limits.total };
    const held = this.perTask.get(taskId) ?? 0;
    if (held >= this.limits.perTask) return { ok: false, scope: "task", limit: this.limits.perTask };
    this.perTask.set(taskId, held + 1);
    this.open++;
    return new Slot(this, taskId, sink);
  }

  /** A slot of `taskId` was given back. */
  released(taskId: string): void {
    this.open--;
    const left = (this.perTask.get(taskId) ?? 1) - 1;
    if (left <= 0) this.perTask.delete(taskId);
    else this.perTask.set(taskId, left);
  }
}

/** One subscriber's slot, and its sink: gives the slot back on the last event. One object, no closures. */
class Slot implements StreamSink {
  readonly ok = true;
  private released = false;

  constructor(
    private readonly limits: SubscriberLimits,
    private readonly taskId: string,
    private readonly inner: StreamSink,
  ) {}

  get sink(): StreamSink {
    return this;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.limits.released(this.taskId);
  }

  push(event: StreamEvent): void {
    this.inner.push(event);
    if (event.type === "end" || event.type === "error") this.release();
  }
}
