// Supervisors as data (OTP): a strategy, a restart intensity, and child specs with restart types,
// a shutdown time and an optional restart-delay hook. Children start in order and stop in reverse
// order. A child restarts at once unless its `restartDelay` hook names a delay; the supervisor
// itself knows no backoff. When the intensity is exceeded the supervisor stops its children and
// fails itself, which escalates to its own parent.

import type { ActorContext, ActorFactory, ActorCell, ExitReason, MessageFailure } from "./cell.ts";
import { describe } from "./errors.ts";
import type { MailboxOptions } from "./mailbox.ts";
import { checkRestartIntensity, DEFAULT_RESTART_INTENSITY, type RestartIntensity } from "./policy.ts";
import type { ActorRef, Message } from "./ref.ts";

export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one";
export type RestartType = "permanent" | "transient" | "temporary";

/** Why and when a child stopped, as its `restartDelay` hook sees it. */
export interface ChildExit {
  reason: ExitReason;
  now: number;
  /** When the incarnation that stopped had started; undefined if it never did. */
  startedAt: number | undefined;
  /** A draw in [0, 1) from the system's random source, for jitter. */
  random: number;
}

/**
 * Decides the delay in ms before a child's restart from why it stopped. The supervisor calls it
 * once per restart and keeps no state of its own for it: a hook may keep its own (attempt counts,
 * circuit breakers, rate limits), e.g. built on `backoffDelay`.
 */
export type RestartDelayHook = (exit: ChildExit) => number;

export interface ChildSpec {
  id: string;
  start: ActorFactory<any>;
  /** permanent: always restarted; transient: only after a failure; temporary: never. */
  restart?: RestartType;
  /** How long a graceful stop may take before the child is killed; default 5000 ms. */
  shutdownMs?: number;
  /** Delay before each restart (negative counts as 0); without it the child restarts at once. */
  restartDelay?: RestartDelayHook;
  mailbox?: Partial<MailboxOptions>;
  /** "resume": a throw while handling one message fails that message only (see MessageFailure). */
  onMessageFailure?: MessageFailure;
}

export interface SupervisorSpec {
  strategy: Strategy;
  intensity?: RestartIntensity;
  children?: ChildSpec[];
}

export type SupervisorMsg =
  | { type: "start-child"; spec: ChildSpec }
  | { type: "stop-child"; id: string }
  /**
   * A child waiting out its restart delay starts now (with the children restarting together with
   * it that follow it); answers false when it was not waiting. Its pending restart is dropped.
   */
  | { type: "restart-now"; id: string }
  | { type: "children" }
  | { type: "child-exit"; id: string; cell: ActorCell<any>; reason: ExitReason }
  | { type: "restart-due"; ids: string[]; gens: number[] };

export interface ChildInfo {
  id: string;
  path: string;
  status: ChildStatus;
  restarts: number;
}

export interface SupervisorReplies {
  "start-child": ActorRef<any, any>;
  "stop-child": boolean;
  "restart-now": boolean;
  children: ChildInfo[];
}

export type SupervisorRef = ActorRef<SupervisorMsg, SupervisorReplies>;

type ChildStatus = "running" | "stopping" | "stopped" | "restarting";

interface Child {
  spec: ChildSpec;
  path: string;
  cell?: ActorCell<any>;
  status: ChildStatus;
  /** Restarts decided (the `restarted` event's attempt); `restarts` counts those carried out. */
  attempt: number;
  restarts: number;
  /** Bumped at every (re)start so stale exit notices and timers are ignored. */
  gen: number;
}

export class SupervisorEscalation extends Error {
  constructor(path: string, cause: string) {
    super(`${path} reached its restart intensity (${cause}); escalating`);
    this.name = "SupervisorEscalation";
  }
}

export function supervisor(spec: SupervisorSpec): ActorFactory<SupervisorMsg> {
  return (ctx) => new SupervisorBehavior(ctx, spec);
}

/** Starts a dynamic child under a running supervisor and returns its ref. */
export function startChild<M extends Message, R = {}>(sup: SupervisorRef, spec: ChildSpec): Promise<ActorRef<M, R>> {
  return sup.ask({ type: "start-child", spec }) as Promise<ActorRef<M, R>>;
}

class SupervisorBehavior {
  /** By id, in start order (a Map keeps insertion order): lookups stay O(1) with many children. */
  private readonly children = new Map<string, Child>();
  private history: number[] = [];
  private readonly intensity: RestartIntensity;

  constructor(
    private readonly ctx: ActorContext<SupervisorMsg>,
    private readonly spec: SupervisorSpec,
  ) {
    this.intensity = spec.intensity ?? DEFAULT_RESTART_INTENSITY;
  }

  async init(): Promise<void> {
    for (const childSpec of this.spec.children ?? []) {
      const child = this.add(childSpec);
      await this.startOne(child);
    }
  }

  async receive(msg: SupervisorMsg): Promise<unknown> {
    switch (msg.type) {
      case "start-child": {
        const existing = this.children.get(msg.spec.id);
        if (existing && existing.status !== "stopped") {
          // Bad input gets an error reply; a throw would crash the supervisor and all its children.
          this.ctx.takeReply()?.reject(new Error(`child ${msg.spec.id} already exists`));
          return;
        }
        if (existing) this.remove(existing);
        const child = this.add(msg.spec);
        await this.startOne(child);
        return this.ctx.system.ref(child.path);
      }
      case "stop-child": {
        const child = this.children.get(msg.id);
        if (!child) return false;
        await this.stopOne(child);
        this.remove(child);
        return true;
      }
      case "restart-now": {
        const first = this.children.get(msg.id);
        if (!first || first.status !== "restarting") return false;
        // startOne bumps each generation, so the pending restart-due finds nothing to do.
        for (const c of this.from(first).filter((c) => c.status === "restarting")) {
          c.restarts++;
          await this.startOne(c);
        }
        return true;
      }
      case "children":
        return [...this.children.values()].map((c) => ({ id: c.spec.id, path: c.path, status: c.status, restarts: c.restarts }));
      case "child-exit":
        return this.onChildExit(msg.id, msg.cell, msg.reason);
      case "restart-due":
        return this.onRestartDue(msg.ids, msg.gens);
    }
  }

  async terminate(): Promise<void> {
    for (const child of [...this.children.values()].reverse()) await this.stopOne(child);
  }

  private add(spec: ChildSpec): Child {
    const child: Child = {
      spec,
      path: `${this.ctx.path}/${spec.id}`,
      status: "stopped",
      attempt: 0,
      restarts: 0,
      gen: 0,
    };
    this.children.set(spec.id, child);
    return child;
  }

  /** `first` and the children started after it, in start order. */
  private from(first: Child): Child[] {
    const all = [...this.children.values()];
    return all.slice(all.indexOf(first));
  }

  private remove(child: Child): void {
    if (this.children.get(child.spec.id) === child) this.children.delete(child.spec.id);
  }

  private async startOne(child: Child): Promise<void> {
    const gen = ++child.gen;
    child.status = "running";
    child.cell = await this.ctx.system.spawnCell(child.path, child.spec.start, { mailbox: child.spec.mailbox, onMessageFailure: child.spec.onMessageFailure }, (reason, cell) => {
      // Ignored for a stale generation (a newer cell replaced this one) or a child we are stopping.
      if (child.gen !== gen || child.status !== "running") return;
      // Past the mailbox capacity: a supervisor must always hear about its children's exits.
      this.ctx.system.deliverSystem(this.ctx.path, { type: "child-exit", id: child.spec.id, cell, reason });
    });
  }

  private async stopOne(child: Child): Promise<void> {
    const cell = child.cell;
    if (!cell || child.status === "stopped") {
      child.status = "stopped";
      return;
    }
    if (child.status === "restarting") {
      child.gen++; // cancels the pending restart
      child.status = "stopped";
      return;
    }
    child.status = "stopping";
    const shutdownMs = child.spec.shutdownMs ?? 5000;
    const timer = this.ctx.clock.setTimeout(() => cell.kill(), shutdownMs);
    await cell.stop({ kind: "shutdown" });
    timer.cancel();
    child.status = "stopped";
  }

  private async onChildExit(id: string, cell: ActorCell<any>, reason: ExitReason): Promise<void> {
    const child = this.children.get(id);
    if (!child || child.cell !== cell || child.status !== "running") return; // stale or stopped by us
    child.status = "stopped";
    const restart = child.spec.restart ?? "permanent";
    const failed = reason.kind === "failed";
    if (restart === "temporary" || (restart === "transient" && !failed)) {
      if (restart === "temporary") this.remove(child);
      return;
    }
    const now = this.ctx.clock.now();
    const admitted = checkRestartIntensity(this.history, now, this.intensity);
    this.history = admitted.history;
    if (!admitted.allowed) {
      const cause = failed ? describe(reason.error) : reason.kind;
      this.ctx.system.events.emit({ type: "escalated", path: this.ctx.path, reason: cause });
      throw new SupervisorEscalation(this.ctx.path, `${child.spec.id}: ${cause}`);
    }

    const group = await this.stopGroupFor(child);
    child.attempt++;
    const delayMs = child.spec.restartDelay
      ? Math.max(0, child.spec.restartDelay({ reason, now, startedAt: cell.startedAt, random: this.ctx.random() }))
      : 0;
    for (const c of group) {
      c.status = "restarting";
      c.gen++;
    }
    this.ctx.system.events.emit({ type: "restarted", path: child.path, attempt: child.attempt, delayMs });
    const ids = group.map((c) => c.spec.id);
    const gens = group.map((c) => c.gen);
    if (delayMs > 0) this.ctx.after(delayMs, { type: "restart-due", ids, gens });
    else await this.onRestartDue(ids, gens);
  }

  /** The children to restart together, stopped (in reverse order) except the failed one. */
  private async stopGroupFor(failed: Child): Promise<Child[]> {
    let group: Child[];
    switch (this.spec.strategy) {
      case "one_for_one":
        group = [failed];
        break;
      case "one_for_all":
        group = [...this.children.values()];
        break;
      case "rest_for_one":
        group = this.from(failed);
        break;
    }
    for (const c of [...group].reverse()) if (c !== failed) await this.stopOne(c);
    // Temporary siblings are stopped for good, not restarted.
    const temporary = (c: Child) => c !== failed && (c.spec.restart ?? "permanent") === "temporary";
    for (const c of group.filter(temporary)) this.remove(c);
    return group.filter((c) => !temporary(c));
  }

  private async onRestartDue(ids: string[], gens: number[]): Promise<void> {
    for (const [i, id] of ids.entries()) {
      const c = this.children.get(id);
      // Skipped when stopped meanwhile (stopOne bumps the generation).
      if (!c || c.status !== "restarting" || c.gen !== gens[i]) continue;
      c.restarts++;
      await this.startOne(c);
    }
  }
}
