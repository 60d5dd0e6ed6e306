// The actor system: a registry of cells by path, the clock, inspection events and dead-letter
// counts. No globals: two systems in one process never see each other.

import { ActorCell, ReplyImpl, type ActorFactory, type ExitReason, type MessageFailure } from "./cell.ts";
import { RealClock, type Clock } from "./clock.ts";
import { ActorStoppedError, AskTimeoutError, MailboxFullError } from "./errors.ts";
import { EventBus, type DeadLetterReason, type InspectEvent } from "./events.ts";
import { DEFAULT_MAILBOX, type MailboxOptions } from "./mailbox.ts";
import { DEFAULT_ASK_TIMEOUT_MS, type ActorRef, type AskOptions, type Message, type SendResult } from "./ref.ts";

export interface SystemOptions {
  name: string;
  clock?: Clock;
  /** Source of randomness for jitter; inject a seeded one in tests. */
  random?: () => number;
}

export interface SpawnOptions {
  mailbox?: Partial<MailboxOptions>;
  onMessageFailure?: MessageFailure;
}

export class ActorSystem {
  readonly name: string;
  readonly clock: Clock;
  readonly events = new EventBus<InspectEvent>();
  readonly random: () => number;
  private readonly cells = new Map<string, ActorCell<any>>();
  private readonly topLevel: ActorCell<any>[] = [];
  private readonly deadLetterCounts = new Map<DeadLetterReason, number>();

  constructor(options: SystemOptions) {
    this.name = options.name;
    this.clock = options.clock ?? new RealClock();
    this.random = options.random ?? Math.random;
  }

  /** Total dead letters, or those of one reason. */
  deadLetters(reason?: DeadLetterReason): number {
    if (reason) return this.deadLetterCounts.get(reason) ?? 0;
    let n = 0;
    for (const v of this.deadLetterCounts.values()) n += v;
    return n;
  }

  recordDeadLetter(path: string, msg: string, reason: DeadLetterReason): void {
    this.deadLetterCounts.set(reason, (this.deadLetterCounts.get(reason) ?? 0) + 1);
    this.events.emit({ type: "dead-letter", path, msg, reason });
  }

  /** Creates and starts a cell at `path`. Used by supervisors and for top-level actors. */
  async spawnCell<M extends Message>(
    path: string,
    factory: ActorFactory<M>,
    options: SpawnOptions = {},
    onExit?: (reason: ExitReason, cell: ActorCell<M>) => void,
  ): Promise<ActorCell<M>> {
    const existing = this.cells.get(path);
    if (existing && existing.status !== "stopped") throw new Error(`an actor already runs at ${path}`);
    const cell = new ActorCell<M>(this, path, factory, { ...DEFAULT_MAILBOX, ...options.mailbox }, options.onMessageFailure);
    if (onExit) cell.onExit = (reason) => onExit(reason, cell);
    this.cells.set(path, cell);
    await cell.start();
    return cell;
  }

  /** Spawns an unsupervised top-level actor (typically a root supervisor). */
  async spawn<M extends Message, R = {}>(
    path: string,
    factory: ActorFactory<M>,
    options: SpawnOptions = {},
  ): Promise<ActorRef<M, R>> {
    const cell = await this.spawnCell(path, factory, options, (reason) => {
      if (reason.kind === "failed") this.events.emit({ type: "escalated", path, reason: "top-level actor failed" });
    });
    this.topLevel.push(cell);
    return this.ref<M, R>(path);
  }

  /** A ref by path. It stays valid across restarts of the actor behind it. */
  ref<M extends Message, R = {}>(path: string): ActorRef<M, R> {
    return new LocalRef<M, R>(this, path);
  }

  isAlive(path: string): boolean {
    const cell = this.cells.get(path);
    return cell !== undefined && cell.status !== "stopped";
  }

  /** Resolves when the actor at `path` stops (at once if none runs there). */
  whenStopped(path: string): Promise<ExitReason | undefined> {
    const cell = this.cells.get(path);
    return cell ? cell.stopped : Promise.resolve(undefined);
  }

  deliver(path: string, env: { msg: Message; reply?: ReplyImpl; deadline?: number }): SendResult {
    const cell = this.cells.get(path);
    const result: SendResult = cell ? cell.enqueue(env) : { ok: false, reason: "stopped" };
    if (!result.ok) this.recordDeadLetter(path, env.msg.type, result.reason);
    return result;
  }

  /** Delivers past the capacity (exit notices, replies to work an actor started). */
  deliverSystem<M extends Message>(path: string, msg: M): SendResult {
    const cell = this.cells.get(path);
    const result: SendResult = cell ? cell.enqueue({ msg }, true) : { ok: false, reason: "stopped" };
    if (!result.ok) this.recordDeadLetter(path, msg.type, result.reason);
    return result;
  }

  unregister(path: string, cell: ActorCell<any>): void {
    if (this.cells.get(path) === cell) this.cells.delete(path);
  }

  /** Stops top-level actors in reverse order of spawning. */
  async shutdown(): Promise<void> {
    for (const cell of [...this.topLevel].reverse()) await cell.stop({ kind: "shutdown" });
    this.topLevel.length = 0;
  }
}

class LocalRef<M extends Message, R> implements ActorRef<M, R> {
  constructor(
    private readonly system: ActorSystem,
    readonly path: string,
  ) {}

  tell(msg: M): SendResult {
    return this.system.deliver(this.path, { msg });
  }

  ask<K extends keyof R & M["type"]>(msg: Extract<M, { type: K }>, opts: AskOptions = {}): Promise<R[K]> {
    const clock = this.system.clock;
    const now = clock.now();
    const deadline = opts.deadline ?? now + (opts.timeoutMs ?? DEFAULT_ASK_TIMEOUT_MS);
    return new Promise<R[K]>((resolve, reject) => {
      const reply = new ReplyImpl(deadline, resolve as (v: unknown) => void, reject);
      const waitMs = deadline - now;
      reply.armTimeout(clock.setTimeout(() => reply.reject(new AskTimeoutError(this.path, msg.type, waitMs)), waitMs));
      const sent = this.system.deliver(this.path, { msg, reply, deadline });
      if (!sent.ok) {
        reply.reject(
          sent.reason === "full"
            ? new MailboxFullError(this.path, msg.type)
            : new ActorStoppedError(this.path, msg.type),
        );
      }
    });
  }
}
