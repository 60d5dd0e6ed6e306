// Keeps one link up: connects, reports it, and on loss reconnects with exponential backoff and
// jitter. The owner re-registers on every new link.

import { backoffDelay, describe, type BackoffPolicy, type Clock, type Logger } from "../../runtime/index.ts";
import type { Link } from "./link.ts";

export type Connector = (signal: AbortSignal) => Promise<Link>;

export interface LinkKeeperOptions {
  connect: Connector;
  clock: Clock;
  random: () => number;
  log: Logger;
  backoff?: BackoffPolicy;
  onUp(link: Link): void;
  onDown(reason: string): void;
}

export const LINK_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 10_000, factor: 2, jitter: 0.1 };

export class LinkKeeper {
  private readonly abort = new AbortController();
  private attempt = 0;
  private current?: Link;
  private stopped = false;

  constructor(private readonly options: LinkKeeperOptions) {}

  get link(): Link | undefined {
    return this.current?.open ? this.current : undefined;
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort(new Error("link keeper stopped"));
    this.current?.close("shutting down");
  }

  private async loop(): Promise<void> {
    const { clock, log } = this.options;
    const policy = this.options.backoff ?? LINK_BACKOFF;
    while (!this.stopped) {
      try {
        const link = await this.options.connect(this.abort.signal);
        if (this.stopped) {
          link.close("shutting down");
          return;
        }
        this.attempt = 0;
        this.current = link;
        const closed = new Promise<string>((resolve) => link.onClose(resolve));
        this.options.onUp(link);
        const reason = await closed;
        this.current = undefined;
        if (this.stopped) return;
        this.options.onDown(reason);
        log.warn("Lost the link to the control plane; reconnecting", { reason });
      } catch (error) {
        if (this.stopped) return;
        log.warn("Could not reach the control plane; will retry", { error: describe(error), attempt: this.attempt + 1 });
      }
      this.attempt++;
      const delay = backoffDelay(this.attempt, policy, this.options.random());
      try {
        await clock.sleep(delay, this.abort.signal);
      } catch {
        return;
      }
    }
  }
}
