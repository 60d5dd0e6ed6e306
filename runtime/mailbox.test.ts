// Bounded mailboxes: capacity and overflow policy, and every refused or dropped message counted
// as a dead letter by the system.

import { describe, expect, test } from "bun:test";
import type { ActorFactory } from "./cell.ts";
import { SimClock } from "./clock.ts";
import type { InspectEvent } from "./events.ts";
import { Mailbox, type OverflowPolicy } from "./mailbox.ts";
import { ActorSystem } from "./system.ts";

describe("Mailbox", () => {
  test("keeps FIFO order and refuses past capacity under reject", () => {
    const mb = new Mailbox<number>({ capacity: 2, overflow: "reject" });
    expect(mb.push(1)).toEqual({ accepted: true });
    expect(mb.push(2)).toEqual({ accepted: true });
    expect(mb.push(3)).toEqual({ accepted: false });
    expect(mb.size).toBe(2);
    expect(mb.shift()).toBe(1);
    expect(mb.push(4)).toEqual({ accepted: true });
    expect([mb.shift(), mb.shift(), mb.shift()]).toEqual([2, 4, undefined]);
  });

  test("drop-oldest accepts the newcomer and hands back the oldest", () => {
    const mb = new Mailbox<number>({ capacity: 2, overflow: "drop-oldest" });
    mb.push(1);
    mb.push(2);
    expect(mb.push(3)).toEqual({ accepted: true, dropped: 1 });
    expect(mb.size).toBe(2);
    expect(mb.drainAll()).toEqual([2, 3]);
    expect(mb.size).toBe(0);
  });

  test("force goes past the capacity", () => {
    const mb = new Mailbox<number>({ capacity: 1, overflow: "reject" });
    mb.push(1);
    mb.force(2);
    expect(mb.size).toBe(2);
    expect(mb.push(3)).toEqual({ accepted: false });
  });

  test("stays FIFO across compaction", () => {
    const mb = new Mailbox<number>({ capacity: 1000, overflow: "reject" });
    const out: number[] = [];
    for (let i = 0; i < 500; i++) {
      mb.push(i);
      if (i % 3 === 0) out.push(mb.shift()!);
    }
    out.push(...mb.drainAll());
    expect(out).toEqual([...Array(500).keys()]);
  });

  test("rejects a capacity that is not a positive integer", () => {
    expect(() => new Mailbox({ capacity: 0, overflow: "reject" })).toThrow(RangeError);
    expect(() => new Mailbox({ capacity: 1.5, overflow: "reject" })).toThrow(RangeError);
  });
});

type Msg = { type: "work"; n: number };

/** An actor that spends `busyMs` of simulated time on each message, recording what it handled. */
function busy(handled: number[], busyMs = 100): ActorFactory<Msg> {
  return (ctx) => ({
    async receive(msg) {
      handled.push(msg.n);
      await ctx.clock.sleep(busyMs);
    },
  });
}

async function setup(capacity: number, overflow: OverflowPolicy) {
  const clock = new SimClock();
  const system = new ActorSystem({ name: "mb", clock });
  const events: InspectEvent[] = [];
  system.events.on((e) => events.push(e));
  const handled: number[] = [];
  const ref = await system.spawn<Msg>("a", busy(handled), { mailbox: { capacity, overflow } });
  return { clock, system, ref, handled, events };
}

describe("mailbox of an actor", () => {
  test("reject: the newcomer is refused with reason full and counted", async () => {
    const { clock, system, ref, handled, events } = await setup(2, "reject");
    expect(ref.tell({ type: "work", n: 1 })).toEqual({ ok: true });
    await clock.flush(); // 1 is in hand, the mailbox is empty again
    expect(ref.tell({ type: "work", n: 2 })).toEqual({ ok: true });
    expect(ref.tell({ type: "work", n: 3 })).toEqual({ ok: true });
    expect(ref.tell({ type: "work", n: 4 })).toEqual({ ok: false, reason: "full" });

    expect(system.deadLetters("full")).toBe(1);
    expect(system.deadLetters()).toBe(1);
    expect(events.filter((e) => e.type === "dead-letter")).toEqual([
      { type: "dead-letter", path: "a", msg: "work", reason: "full" },
    ]);

    await clock.advance(300);
    expect(handled).toEqual([1, 2, 3]);
  });

  test("drop-oldest: the oldest queued message becomes a dead letter", async () => {
    const { clock, system, ref, handled } = await setup(2, "drop-oldest");
    ref.tell({ type: "work", n: 1 });
    await clock.flush();
    for (const n of [2, 3, 4, 5]) expect(ref.tell({ type: "work", n })).toEqual({ ok: true });

    expect(system.deadLetters("dropped")).toBe(2);
    expect(system.deadLetters("full")).toBe(0);

    await clock.advance(1000);
    expect(handled).toEqual([1, 4, 5]);
  });

  test("capacity bounds what waits, not what is in hand", async () => {
    const { clock, ref, handled } = await setup(1, "reject");
    expect(ref.tell({ type: "work", n: 1 }).ok).toBe(true);
    await clock.flush();
    expect(ref.tell({ type: "work", n: 2 }).ok).toBe(true);
    expect(ref.tell({ type: "work", n: 3 }).ok).toBe(false);
    await clock.advance(100); // 1 done, 2 in hand: room for one again
    expect(ref.tell({ type: "work", n: 4 }).ok).toBe(true);
    expect(ref.tell({ type: "work", n: 5 }).ok).toBe(false);
    await clock.advance(1000);
    expect(handled).toEqual([1, 2, 4]);
  });

  test("tells to an unknown path are refused as stopped and counted", async () => {
    const { system } = await setup(2, "reject");
    expect(system.ref<Msg>("nobody").tell({ type: "work", n: 1 })).toEqual({ ok: false, reason: "stopped" });
    expect(system.deliverSystem("nobody", { type: "work", n: 2 })).toEqual({ ok: false, reason: "stopped" });
    expect(system.deadLetters("stopped")).toBe(2);
  });

  test("tells to a stopped actor are refused, and what was queued at stop is counted", async () => {
    const { clock, system, ref, handled } = await setup(10, "reject");
    ref.tell({ type: "work", n: 1 });
    ref.tell({ type: "work", n: 2 });
    ref.tell({ type: "work", n: 3 });
    await clock.flush();
    const done = system.shutdown();
    await clock.advance(100); // the message in hand completes, the two queued ones are dead letters
    await done;

    expect(handled).toEqual([1]);
    expect(system.isAlive("a")).toBe(false);
    expect(system.deadLetters("stopped")).toBe(2);
    expect(ref.tell({ type: "work", n: 4 })).toEqual({ ok: false, reason: "stopped" });
    expect(system.deadLetters("stopped")).toBe(3);
  });
});
