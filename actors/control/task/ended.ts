// What an ended task keeps while it lingers for late subscribers (retentionMs): its stream log
// and the budgets to answer `subscribe` with, nothing else. The live task's state (its fields,
// labels, spec, metrics children and timers' context) is let go once its last event is out.
// Measured with 10,000 ended tasks of 10 tokens and 11 metrics frames: 9.1 KB of heap each kept
// the live task's state; 7.8 KB without it, most of it the events themselves (stream-log.ts).
//
// These are classes, not closures: one object per task each, with their methods shared on the
// prototype (a task's closures and their scopes were about 2.5 KB of each open stream's heap).
// The StreamLog's hooks are an object of their own too: made inside the live task, they would
// keep all of its state alive through the log.

import type { ActorContext, Behavior, ExitReason, Logger } from "../../../runtime/index.ts";
import type { Budgets, StreamEvent } from "../../../contract/index.ts";
import type { StreamChunk } from "../../../adapters/storage/state-store.ts";
import type { StreamHooks, TaskMsg } from "./protocol.ts";
import { STREAM_DEFAULTS, StreamLog, type StreamLogOptions } from "./stream-log.ts";

/**
 * A behavior whose handler can be swapped: the live task hands over to an `EndedTask` at its
 * end with `become`. Only `current` is held here.
 */
export class Switchable<M extends TaskMsg> implements Behavior<M> {
  current!: Behavior<M>;

  init(): void | Promise<void> {
    return this.current.init?.();
  }

  receive(msg: M): unknown {
    return this.current.receive(msg);
  }

  terminate(reason: ExitReason): void | Promise<void> {
    return this.current.terminate?.(reason);
  }

  become(next: Behavior<M>): void {
    this.current = next;
  }
}

/** `build` makes the first behavior and gets `become`, with which it hands over later. */
export function switchable<M extends TaskMsg>(build: (become: (next: Behavior<M>) => void) => Behavior<M>): Behavior<M> {
  const s = new Switchable<M>();
  s.current = build((next) => s.become(next));
  return s;
}

/** The StreamLog's way to the store, for one task. */
class TaskStreamStore implements StreamLogOptions {
  constructor(
    private readonly taskId: string,
    private readonly hooks: StreamHooks,
    private readonly log: Logger,
    readonly window: number,
    readonly chunkEvents: number,
    private readonly logFields: Record<string, unknown> = {},
  ) {}

  append(chunk: StreamChunk): Promise<void> {
    return this.hooks.append(this.taskId, chunk);
  }

  replay(from: number, to: number): Promise<StreamEvent[]> {
    return this.hooks.replay(this.taskId, from, to);
  }

  onReplayError(e: unknown): void {
    this.log.error("Could not replay a stream's stored events", { job_id: this.taskId, ...this.logFields, error: String(e) });
  }
}

/** The task's stream log, wired to the store for this task only. */
export function taskStream(taskId: string, hooks: StreamHooks, log: Logger, sizes: { window?: number; chunkEvents?: number } = {}, logFields?: Record<string, unknown>): StreamLog {
  return new StreamLog(new TaskStreamStore(taskId, hooks, log, sizes.window ?? STREAM_DEFAULTS.window, sizes.chunkEvents ?? STREAM_DEFAULTS.chunkEvents, logFields));
}

/**
 * An ended task, released: serves late subscribers from the log until `expire`, then lets its
 * stored chunks go and stops. Everything else that may still arrive (late engine frames, timers,
 * a cancel) changes nothing, as it did for the live task once ended.
 */
export class EndedTask implements Behavior<TaskMsg> {
  constructor(
    private readonly ctx: ActorContext<TaskMsg>,
    private readonly taskId: string,
    private readonly stream: StreamLog,
    private budgets: Budgets,
    private readonly hooks: StreamHooks,
  ) {}

  receive(msg: TaskMsg): unknown {
    switch (msg.type) {
      case "subscribe":
        this.stream.subscribe(msg.sink);
        return { budgets: this.budgets };
      case "unsubscribe":
        return this.stream.unsubscribe(msg.sink);
      case "cancel":
        return "canceled";
      case "metrics-snapshot":
        if (msg.budgets) this.budgets = msg.budgets;
        return;
      case "expire":
        if (this.stream.everStored) this.hooks.discard(this.taskId);
        this.ctx.stopSelf();
        return;
      default:
        return;
    }
  }
}

export function endedTask(ctx: ActorContext<TaskMsg>, taskId: string, stream: StreamLog, budgets: Budgets, hooks: StreamHooks): Behavior<TaskMsg> {
  return new EndedTask(ctx, taskId, stream, budgets, hooks);
}
