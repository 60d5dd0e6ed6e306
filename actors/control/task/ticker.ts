// One clock for every streaming task's `metrics` frames. Each task used to arm its own timer per
// frame and ask the scheduler for the queue depth on every tick: at 10,000 open streams that was
// 10,000 timers, 10,000 scheduler asks (each with its own reply and timeout) and 10,000 closures a
// second. Now one timer reads the queue depth once per tick and tells every streaming task the
// same immutable message; a task's frame cadence is the ticker's, so its second frame comes
// within one interval of its first (sent at its first token) and every interval after that.

import type { Clock, Timer } from "../../../runtime/index.ts";

export type MetricsTickMsg = { readonly type: "metrics-tick"; readonly queue_depth: number };

export interface TickTarget {
  tell(msg: MetricsTickMsg): unknown;
}

export class MetricsTicker {
  private readonly targets = new Set<TickTarget>();
  private timer: Timer | undefined;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly everyMs: number,
    private readonly queueDepth: () => Promise<number>,
  ) {}

  /** Streaming tasks ticked now. */
  get size(): number {
    return this.targets.size;
  }

  add(target: TickTarget): void {
    if (this.stopped || this.everyMs <= 0) return;
    this.targets.add(target);
    if (!this.timer) this.timer = this.clock.setTimeout(() => void this.tick(), this.everyMs);
  }

  remove(target: TickTarget): void {
    this.targets.delete(target);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.targets.clear();
  }

  private async tick(): Promise<void> {
    if (this.targets.size === 0) {
      this.timer = undefined; // nobody streams: no read, no timer until a task is added
      return;
    }
    let depth = 0;
    try {
      depth = await this.queueDepth();
    } catch {
      // The scheduler is restarting or stopping: this tick says 0, the next one asks again.
    }
    this.timer = undefined;
    if (this.stopped || this.targets.size === 0) return;
    const msg: MetricsTickMsg = { type: "metrics-tick", queue_depth: depth };
    for (const target of this.targets) target.tell(msg);
    this.timer = this.clock.setTimeout(() => void this.tick(), this.everyMs);
  }
}
