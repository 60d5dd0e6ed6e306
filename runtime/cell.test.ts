// Actor cell rules: one message at a time (awaited), init before the first message, terminate
// once, crashes. Long work aside, timers and late replies are in cell-aside.test.ts.

import { describe, expect, test } from "bun:test";
import type { ExitReason } from "./cell.ts";
import { SimClock } from "./clock.ts";
import { ActorFailedError, ActorStoppedError } from "./errors.ts";
import type { InspectEvent } from "./events.ts";
import { ActorSystem } from "./system.ts";

function setup() {
  const clock = new SimClock();
  const system = new ActorSystem({ name: "cell", clock });
  const events: InspectEvent[] = [];
  system.events.on((e) => events.push(e));
  return { clock, system, events };
}

describe("one message at a time", () => {
  test("async handlers never interleave and run in arrival order", async () => {
    const { clock, system } = setup();
    const log: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const ref = await system.spawn<{ type: "job"; n: number; ms: number }>("a", (ctx) => ({
      async receive(msg) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        log.push(`start ${msg.n}@${ctx.clock.now()}`);
        await ctx.clock.sleep(msg.ms);
        log.push(`end ${msg.n}@${ctx.clock.now()}`);
        inFlight--;
      },
    }));
    // The first job is the slowest: a concurrent runner would finish 2 and 3 before it.
    ref.tell({ type: "job", n: 1, ms: 30 });
    ref.tell({ type: "job", n: 2, ms: 10 });
    ref.tell({ type: "job", n: 3, ms: 5 });

    await clock.advance(29);
    expect(log).toEqual(["start 1@0"]);
    await clock.advance(100);
    expect(log).toEqual(["start 1@0", "end 1@30", "start 2@30", "end 2@40", "start 3@40", "end 3@45"]);
    expect(maxInFlight).toBe(1);
  });
});

describe("lifecycle", () => {
  test("init completes before the first message, which waits in the mailbox", async () => {
    const { clock, system } = setup();
    const log: string[] = [];
    const spawned = system.spawn<{ type: "hello" }>("a", (ctx) => ({
      async init() {
        log.push("init start");
        await ctx.clock.sleep(50);
        log.push("init end");
      },
      receive(msg) {
        log.push(`${msg.type}@${ctx.clock.now()}`);
      },
    }));
    expect(system.ref<{ type: "hello" }>("a").tell({ type: "hello" })).toEqual({ ok: true });
    await clock.advance(49);
    expect(log).toEqual(["init start"]);
    await clock.advance(1);
    await spawned;
    expect(log).toEqual(["init start", "init end", "hello@50"]);
  });

  test("stopSelf during init: queued messages are never handled, terminate runs once", async () => {
    const { clock, system } = setup();
    const log: string[] = [];
    void system.spawn<{ type: "hello" }>("a", (ctx) => ({
      async init() {
        await ctx.clock.sleep(10);
        ctx.stopSelf();
      },
      receive: () => void log.push("hello"),
      terminate: (r) => void log.push(`term ${r.kind}`),
    }));
    system.ref<{ type: "hello" }>("a").tell({ type: "hello" });
    await clock.advance(10);
    expect(log).toEqual(["term normal"]);
    expect(system.isAlive("a")).toBe(false);
    expect(system.deadLetters("stopped")).toBe(1);
  });

  test("terminate runs once on stop, with the stop reason", async () => {
    const { clock, system } = setup();
    const reasons: ExitReason[] = [];
    await system.spawn<{ type: "x" }>("a", () => ({
      receive() {},
      terminate: (r) => void reasons.push(r),
    }));
    await system.shutdown();
    await system.shutdown();
    await clock.flush();
    expect(reasons).toEqual([{ kind: "shutdown" }]);
    expect(system.isAlive("a")).toBe(false);
  });

  test("stopSelf stops after the current message with reason normal", async () => {
    const { clock, system } = setup();
    const reasons: ExitReason[] = [];
    const handled: string[] = [];
    const ref = await system.spawn<{ type: "quit" } | { type: "next" }>("a", (ctx) => ({
      receive(msg) {
        handled.push(msg.type);
        if (msg.type === "quit") ctx.stopSelf();
      },
      terminate: (r) => void reasons.push(r),
    }));
    ref.tell({ type: "quit" });
    ref.tell({ type: "next" });
    await clock.flush();
    expect(handled).toEqual(["quit"]);
    expect(reasons).toEqual([{ kind: "normal" }]);
    expect(await system.whenStopped("a")).toBeUndefined(); // unregistered
    expect(system.deadLetters("stopped")).toBe(1);
  });

  test("a throwing handler fails the actor: terminate once, asker gets ActorFailedError", async () => {
    const { clock, system, events } = setup();
    const reasons: ExitReason[] = [];
    const handled: string[] = [];
    const ref = await system.spawn<{ type: "boom" } | { type: "after" }, { boom: void; after: void }>("a", () => ({
      receive(msg) {
        handled.push(msg.type);
        if (msg.type === "boom") throw new Error("kaput");
      },
      terminate: (r) => void reasons.push(r),
    }));
    const asked = ref.ask({ type: "boom" }).catch((e: unknown) => e);
    const queued = ref.ask({ type: "after" }).catch((e: unknown) => e);
    await clock.flush();

    const err = await asked;
    expect(err).toBeInstanceOf(ActorFailedError);
    expect((err as ActorFailedError).code).toBe("ACTOR_FAILED");
    expect((err as Error).message).toContain("kaput");
    expect(await queued).toBeInstanceOf(ActorStoppedError);
    expect(handled).toEqual(["boom"]);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]!.kind).toBe("failed");
    expect(system.isAlive("a")).toBe(false);
    expect(events.filter((e) => e.type === "failed")).toEqual([{ type: "failed", path: "a", error: "kaput" }]);

    await system.shutdown();
    expect(reasons).toHaveLength(1);
  });

  test("a throwing init fails the actor and still runs terminate once", async () => {
    const { clock, system } = setup();
    const reasons: string[] = [];
    await system.spawn<{ type: "x" }>("a", () => ({
      init() {
        throw new Error("no init");
      },
      receive() {},
      terminate: (r) => void reasons.push(r.kind),
    }));
    await clock.flush();
    expect(reasons).toEqual(["failed"]);
    expect(system.isAlive("a")).toBe(false);
  });
});
