// Inspection events and isolation: what an observer sees, and two systems in one process never
// seeing each other.

import { describe, expect, test } from "bun:test";
import type { ActorFactory } from "./cell.ts";
import { SimClock } from "./clock.ts";
import { EventBus, type InspectEvent } from "./events.ts";
import { supervisor } from "./supervisor.ts";
import { ActorSystem } from "./system.ts";

type Msg = { type: "inc" } | { type: "get" } | { type: "boom" };

const counter: ActorFactory<Msg> = () => {
  let n = 0;
  return {
    receive(msg) {
      if (msg.type === "boom") throw new Error("boom");
      if (msg.type === "inc") n++;
      return n;
    },
  };
};

function setup(name: string) {
  const clock = new SimClock();
  const system = new ActorSystem({ name, clock });
  const events: InspectEvent[] = [];
  system.events.on((e) => events.push(e));
  return { clock, system, events };
}

describe("inspection events", () => {
  test("a supervised child's life: spawned, delivered, failed, stopped, restarted, spawned", async () => {
    const { clock, system, events } = setup("ev");
    await system.spawn("root", supervisor({ strategy: "one_for_one", children: [{ id: "w", start: counter }] }));
    const w = system.ref<Msg>("root/w");
    w.tell({ type: "inc" });
    w.tell({ type: "boom" });
    await clock.flush();

    expect(events.filter((e) => e.path === "root/w")).toEqual([
      { type: "spawned", path: "root/w" },
      { type: "delivered", path: "root/w", msg: "inc" },
      { type: "delivered", path: "root/w", msg: "boom" },
      { type: "failed", path: "root/w", error: "boom" },
      { type: "stopped", path: "root/w", reason: "failed: boom" },
      { type: "restarted", path: "root/w", attempt: 1, delayMs: 0 },
      { type: "spawned", path: "root/w" },
    ]);
    expect(events.filter((e) => e.path === "root").map((e) => e.type)).toEqual(["spawned", "delivered"]);
  });

  test("dead letters and a graceful stop are reported", async () => {
    const { system, events } = setup("ev");
    await system.spawn<Msg>("a", counter);
    system.ref<Msg>("ghost").tell({ type: "inc" });
    await system.shutdown();
    expect(events).toEqual([
      { type: "spawned", path: "a" },
      { type: "dead-letter", path: "ghost", msg: "inc", reason: "stopped" },
      { type: "stopped", path: "a", reason: "shutdown" },
    ]);
  });

  test("a failing top-level actor is reported as escalated", async () => {
    const { clock, system, events } = setup("ev");
    const a = await system.spawn<Msg>("a", counter);
    a.tell({ type: "boom" });
    await clock.flush();
    expect(events.at(-1)).toEqual({ type: "escalated", path: "a", reason: "top-level actor failed" });
  });
});

describe("EventBus", () => {
  test("unsubscribe, a throwing listener, and next()", async () => {
    const bus = new EventBus<number>();
    expect(bus.active).toBe(false);
    const seen: number[] = [];
    bus.on(() => {
      throw new Error("bad observer");
    });
    const off = bus.on((n) => seen.push(n));
    expect(bus.active).toBe(true);
    const firstBig = bus.next((n) => n > 10);
    bus.emit(1);
    bus.emit(42);
    off();
    bus.emit(2);
    expect(seen).toEqual([1, 42]);
    expect(await firstBig).toBe(42);
  });
});

describe("two systems in one process", () => {
  test("same paths, no cross-talk, separate dead letters and events", async () => {
    const one = setup("one");
    const two = setup("two");
    for (const s of [one, two]) {
      await s.system.spawn("root", supervisor({ strategy: "one_for_one", children: [{ id: "w", start: counter }] }));
    }
    const w1 = one.system.ref<Msg, { inc: number; get: number }>("root/w");
    const w2 = two.system.ref<Msg, { inc: number; get: number }>("root/w");
    expect(await w1.ask({ type: "inc" })).toBe(1);
    expect(await w1.ask({ type: "inc" })).toBe(2);
    expect(await w2.ask({ type: "inc" })).toBe(1);

    one.events.length = 0;
    two.events.length = 0;
    w1.tell({ type: "boom" });
    await one.clock.flush();
    expect(await w1.ask({ type: "get" })).toBe(0);
    expect(await w2.ask({ type: "get" })).toBe(1);
    expect(two.events).toEqual([{ type: "delivered", path: "root/w", msg: "get" }]);
    expect(one.events.some((e) => e.type === "restarted")).toBe(true);

    one.system.ref<Msg>("ghost").tell({ type: "inc" });
    one.system.ref<Msg>("ghost").tell({ type: "inc" });
    expect(one.system.deadLetters("stopped")).toBe(2);
    expect(two.system.deadLetters()).toBe(0);

    await one.system.shutdown();
    expect(one.system.isAlive("root/w")).toBe(false);
    expect(two.system.isAlive("root/w")).toBe(true);
    expect(w2.tell({ type: "inc" })).toEqual({ ok: true });
    expect(w1.tell({ type: "inc" })).toEqual({ ok: false, reason: "stopped" });
    await two.system.shutdown();
  });

  test("each system draws jitter from its own injected random", () => {
    const a = new ActorSystem({ name: "a", clock: new SimClock(), random: () => 0.25 });
    const b = new ActorSystem({ name: "b", clock: new SimClock(), random: () => 0.75 });
    expect([a.random(), b.random()]).toEqual([0.25, 0.75]);
  });
});
