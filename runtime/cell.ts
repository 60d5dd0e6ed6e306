// Actor cell: one mailbox, one message handled at a time (awaited), lifecycle init → receive* →
// terminate. Long work runs aside via pipeToSelf and comes back as a message.

import type { Clock, Timer } from "./clock.ts";
import { ActorFailedError, ActorStoppedError, describe } from "./errors.ts";
import { Mailbox, type MailboxOptions } from "./mailbox.ts";
import type { ActorRef, Message, ReplyHandle, SendResult } from "./ref.ts";
import type { ActorSystem } from "./system.ts";

export type ExitReason =
  | { kind: "normal" }
  | { kind: "shutdown" }
  | { kind: "failed"; error: unknown };

export interface Behavior<M extends Message> {
  /** Runs before the first message; messages sent meanwhile wait in the mailbox. */
  init?(): void | Promise<void>;
  /** Handles one message. The return value answers an ask. A throw is a crash. */
  receive(msg: M): unknown;
  /** Runs once when the actor stops for any reason; cleanup that must not be skipped. */
  terminate?(reason: ExitReason): void | Promise<void>;
}

export type ActorFactory<M extends Message> = (ctx: ActorContext<M>) => Behavior<M>;

/**
 * What a throw from `receive` does. "crash" (the default, OTP's way): the actor fails and its
 * supervisor decides, counting the restart toward its intensity. "resume" (Akka's Resume): the
 * message fails alone (an ask is answered with ActorFailedError) and the actor keeps its state and
 * goes on with the next message, so bad input cannot become a crash loop that takes its
 * supervisor, or the process, down. Failures in init and terminate still crash.
 */
export type MessageFailure = "crash" | "resume";

export interface ActorContext<M extends Message> {
  readonly path: string;
  readonly self: ActorRef<M, any>;
  readonly system: ActorSystem;
  readonly clock: Clock;
  /** Deadline of the message being handled (asks always have one), if any. */
  deadline(): number | undefined;
  /** Takes over the reply of the ask being handled, to answer it later. */
  takeReply<T>(): ReplyHandle<T> | undefined;
  /** Runs `work` aside; its outcome comes back to this actor as the message `map` makes. */
  pipeToSelf<T>(work: Promise<T>, map: (outcome: Outcome<T>) => M): void;
  /** Sends `msg` to self after `ms`; cancelled automatically when the actor stops. */
  after(ms: number, msg: M): Timer;
  /** Stops this actor after the current message (exit reason `normal`). */
  stopSelf(): void;
  random(): number;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export interface Envelope<M> {
  msg: M;
  reply?: ReplyImpl;
  deadline?: number;
}

export class ReplyImpl implements ReplyHandle {
  settled = false;
  private timer?: Timer;

  constructor(
    readonly deadline: number,
    private readonly onResolve: (v: unknown) => void,
    private readonly onReject: (e: unknown) => void,
  ) {}

  armTimeout(timer: Timer): void {
    if (this.settled) timer.cancel();
    else this.timer = timer;
  }

  resolve(value: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.timer?.cancel();
    this.onResolve(value);
  }

  reject(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.timer?.cancel();
    this.onReject(error);
  }
}

type Status = "new" | "starting" | "running" | "stopping" | "stopped";

export class ActorCell<M extends Message> {
  status: Status = "new";
  startedAt = 0;
  /** Set by the parent: called exactly once when the cell has fully stopped. */
  onExit?: (reason: ExitReason) => void;

  private readonly mailbox: Mailbox<Envelope<M>>;
  private behavior?: Behavior<M>;
  private processing = false;
  private current?: Envelope<M>;
  private replyTaken = false;
  /** Replies taken to answer later; rejected if the actor stops first, so no asker waits in vain (made for the first). */
  heldReplies: Set<ReplyImpl> | undefined;
  private stopReason?: ExitReason;
  /** Timers of `ctx.after` not yet fired (made for the first). */
  timers: Set<Timer> | undefined;
  /** The exit reason once stopped, and whoever waits for it (made when someone asks). */
  private exitReason?: ExitReason;
  private stoppedPromise?: Promise<ExitReason>;
  private resolveStopped?: (r: ExitReason) => void;
  private readonly ctx: ActorContext<M>;

  constructor(
    readonly system: ActorSystem,
    readonly path: string,
    private readonly factory: ActorFactory<M>,
    mailbox: MailboxOptions,
    private readonly onMessageFailure: MessageFailure = "crash",
  ) {
    this.mailbox = new Mailbox(mailbox);
    this.ctx = new CellContext(this);
  }

  /** Resolves with the exit reason once the cell has fully stopped. */
  get stopped(): Promise<ExitReason> {
    if (!this.stoppedPromise) {
      this.stoppedPromise = this.exitReason ? Promise.resolve(this.exitReason) : new Promise((r) => (this.resolveStopped = r));
    }
    return this.stoppedPromise;
  }

  async start(): Promise<void> {
    if (this.status !== "new") return;
    this.status = "starting";
    this.startedAt = this.system.clock.now();
    this.system.events.emit({ type: "spawned", path: this.path });
    try {
      this.behavior = this.factory(this.ctx);
      await this.behavior.init?.();
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.stopReason) return this.finish();
    this.status = "running";
    this.schedule();
  }

  /** Accepts an envelope or says why not. `system` envelopes bypass the capacity. */
  enqueue(env: Envelope<M>, system = false): SendResult {
    if (this.status === "stopping" || this.status === "stopped") return { ok: false, reason: "stopped" };
    if (system) {
      // Parents must always hear about their children, and an actor about work it started.
      this.mailbox.force(env);
    } else {
      const pushed = this.mailbox.push(env);
      if (!pushed.accepted) return { ok: false, reason: "full" };
      if (pushed.dropped) this.deadLetter(pushed.dropped, "dropped");
    }
    this.schedule();
    return { ok: true };
  }

  /** Graceful stop: the message in hand completes, the rest become dead letters. */
  stop(reason: ExitReason = { kind: "shutdown" }): Promise<ExitReason> {
    if (this.status === "stopped" || this.stopReason) return this.stopped;
    this.stopReason = reason;
    if (this.status === "new") {
      this.status = "stopping";
      void this.finish();
    } else if (this.status === "running" && !this.processing) {
      this.status = "stopping";
      void this.finish();
    } else {
      // Starting or busy: finish() runs when init or the current handler returns.
      this.status = "stopping";
    }
    return this.stopped;
  }

  /** Immediate stop without waiting for the handler in hand (shutdown timeout expired). */
  kill(): void {
    if (this.status === "stopped") return;
    this.stopReason ??= { kind: "shutdown" };
    this.complete(this.stopReason, "killed after shutdown timeout");
  }

  private schedule(): void {
    if (this.processing || this.status !== "running") return;
    this.processing = true;
    queueMicrotask(() => void this.drain());
  }

  private async drain(): Promise<void> {
    const events = this.system.events;
    while (this.status === "running") {
      const env = this.mailbox.shift();
      if (!env) break;
      if (env.reply?.settled || (env.deadline !== undefined && this.system.clock.now() > env.deadline)) {
        this.deadLetter(env, "expired");
        continue;
      }
      this.current = env;
      this.replyTaken = false;
      if (events.active) events.emit({ type: "delivered", path: this.path, msg: env.msg.type });
      try {
        let result = this.behavior!.receive(env.msg);
        if (result instanceof Promise) result = await result;
        if (env.reply && !this.replyTaken) env.reply.resolve(result);
      } catch (error) {
        env.reply?.reject(new ActorFailedError(this.path, env.msg.type, error));
        if (this.onMessageFailure === "resume") {
          this.current = undefined;
          events.emit({ type: "message-failed", path: this.path, msg: env.msg.type, error: describe(error) });
          continue;
        }
        this.current = undefined;
        this.processing = false;
        this.fail(error);
        return;
      }
      this.current = undefined;
    }
    this.processing = false;
    if (this.status === "stopping") await this.finish();
  }

  private fail(error: unknown): void {
    if (this.status === "stopped") return;
    this.system.events.emit({ type: "failed", path: this.path, error: describe(error) });
    this.stopReason = { kind: "failed", error };
    this.status = "stopping";
    void this.finish();
  }

  private async finish(): Promise<void> {
    if (this.status === "stopped") return;
    const reason = this.stopReason ?? { kind: "normal" };
    this.cancelTimers();
    try {
      await this.behavior?.terminate?.(reason);
    } catch (error) {
      this.system.events.emit({ type: "failed", path: this.path, error: `terminate: ${describe(error)}` });
    }
    this.complete(reason, reason.kind === "failed" ? `failed: ${describe(reason.error)}` : reason.kind);
  }

  private complete(reason: ExitReason, text: string): void {
    if (this.status === "stopped") return;
    this.status = "stopped";
    this.cancelTimers();
    for (const env of this.mailbox.drainAll()) this.deadLetter(env, "stopped");
    if (this.heldReplies) for (const reply of this.heldReplies) reply.reject(new ActorStoppedError(this.path, "held reply"));
    this.heldReplies = undefined;
    this.system.unregister(this.path, this);
    this.system.events.emit({ type: "stopped", path: this.path, reason: text });
    this.exitReason = reason;
    this.resolveStopped?.(reason);
    this.onExit?.(reason);
  }

  private deadLetter(env: Envelope<M>, reason: "dropped" | "expired" | "stopped"): void {
    env.reply?.reject(new ActorStoppedError(this.path, env.msg.type));
    this.system.recordDeadLetter(this.path, env.msg.type, reason);
  }

  private cancelTimers(): void {
    if (!this.timers) return;
    for (const t of this.timers) t.cancel();
    this.timers = undefined;
  }

  /** The message being handled (for the context). */
  get currentEnvelope(): Envelope<M> | undefined {
    return this.current;
  }

  /** Called by the context when a handler takes its reply. */
  tookReply(reply: ReplyImpl): void {
    this.replyTaken = true;
    (this.heldReplies ??= new Set()).add(reply);
  }
}

/** An actor's context: one object per cell, its methods on the prototype (no closures per actor). */
class CellContext<M extends Message> implements ActorContext<M> {
  readonly path: string;
  readonly self: ActorRef<M, any>;
  readonly system: ActorSystem;
  readonly clock: Clock;

  constructor(private readonly cell: ActorCell<M>) {
    this.path = cell.path;
    this.system = cell.system;
    this.self = cell.system.ref<M, any>(cell.path);
    this.clock = cell.system.clock;
  }

  deadline(): number | undefined {
    return this.cell.currentEnvelope?.deadline;
  }

  takeReply<T>(): ReplyHandle<T> | undefined {
    const reply = this.cell.currentEnvelope?.reply;
    if (!reply) return undefined;
    this.cell.tookReply(reply);
    return reply as ReplyHandle<T>;
  }

  pipeToSelf<T>(work: Promise<T>, map: (o: Outcome<T>) => M): void {
    const cell = this.cell;
    // Back to this incarnation only (not a restarted successor); counted if it stopped meanwhile.
    work.then(
      (value) => backToCell(cell, map({ ok: true, value })),
      (error) => backToCell(cell, map({ ok: false, error })),
    );
  }

  after(ms: number, msg: M): Timer {
    const cell = this.cell;
    const timers = (cell.timers ??= new Set());
    const timer = this.system.clock.setTimeout(() => {
      cell.timers?.delete(timer);
      cell.enqueue({ msg }, true);
    }, ms);
    timers.add(timer);
    return {
      cancel: () => {
        cell.timers?.delete(timer);
        timer.cancel();
      },
    };
  }

  stopSelf(): void {
    void this.cell.stop({ kind: "normal" });
  }

  random(): number {
    return this.system.random();
  }
}

function backToCell<M extends Message>(cell: ActorCell<M>, msg: M): void {
  const sent = cell.enqueue({ msg }, true);
  if (!sent.ok) cell.system.recordDeadLetter(cell.path, msg.type, sent.reason);
}
