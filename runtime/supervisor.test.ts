// Supervisor rules: which children each strategy restarts, restart types, ordered start and
// reverse stop, shutdown timeout, dynamic children.

import { describe, expect, test } from "bun:test";
import type { ActorFactory } from "./cell.ts";
import { SimClock } from "./clock.ts";
import type { InspectEvent } from "./events.ts";
import type { ActorRef } from "./ref.ts";
import {
  startChild,
  supervisor,
  type ChildSpec,
  type Strategy,
  type SupervisorMsg,
  type SupervisorReplies,
  type SupervisorSpec,
} from "./supervisor.ts";
import { ActorSystem } from "./system.ts";

type WMsg = { type: "inc" } | { type: "get" } | { type: "boom" } | { type: "quit" };
type WRef = ActorRef<WMsg, { inc: number; get: number }>;

/** A counter child that logs its lifecycle: `init a`, `term a shutdown`. */
function worker(id: string, log: string[], opts: { initMs?: number; termMs?: number; hang?: boolean } = {}): ActorFactory<WMsg> {
  return (ctx) => {
    let n = 0;
    return {
      async init() {
        if (opts.initMs) await ctx.clock.sleep(opts.initMs);
        log.push(`init ${id}`);
      },
      receive(msg) {
        switch (msg.type) {
          case "inc":
            return ++n;
          case "get":
            return n;
          case "boom":
            throw new Error(`boom ${id}`);
          case "quit":
            ctx.stopSelf();
            return;
        }
      },
      async terminate(reason) {
        if (opts.hang) await new Promise(() => {});
        if (opts.termMs) await ctx.clock.sleep(opts.termMs);
        log.push(`term ${id} ${reason.kind}`);
      },
    };
  };
}

async function setup(spec: Omit<SupervisorSpec, "children">, children: (log: string[]) => ChildSpec[]) {
  const clock = new SimClock();
  const system = new ActorSystem({ name: "sup", clock });
  const events: InspectEvent[] = [];
  system.events.on((e) => events.push(e));
  const log: string[] = [];
  const sup = await system.spawn<SupervisorMsg, SupervisorReplies>("root", supervisor({ ...spec, children: children(log) }));
  const child = (id: string): WRef => system.ref(`root/${id}`);
  return { clock, system, events, log, sup, child };
}

const abc = (log: string[]): ChildSpec[] => ["a", "b", "c"].map((id) => ({ id, start: worker(id, log) }));

describe("strategies", () => {
  const cases: [Strategy, string[], string[]][] = [
    ["one_for_one", ["term b failed", "init b"], ["b"]],
    ["one_for_all", ["term b failed", "term c shutdown", "term a shutdown", "init a", "init b", "init c"], ["a", "b", "c"]],
    ["rest_for_one", ["term b failed", "term c shutdown", "init b", "init c"], ["b", "c"]],
  ];

  for (const [strategy, expectedLog, reset] of cases) {
    test(`${strategy} restarts ${reset.join(",")} when b fails`, async () => {
      const { clock, events, log, child } = await setup({ strategy }, abc);
      for (const id of ["a", "b", "c"]) expect(await child(id).ask({ type: "inc" })).toBe(1);
      log.length = 0;
      events.length = 0;

      child("b").tell({ type: "boom" });
      await clock.flush();

      expect(log).toEqual(expectedLog);
      const counters = await Promise.all(["a", "b", "c"].map((id) => child(id).ask({ type: "get" })));
      expect(counters).toEqual(["a", "b", "c"].map((id) => (reset.includes(id) ? 0 : 1)));
      expect(events.filter((e) => e.type === "restarted")).toEqual([
        { type: "restarted", path: "root/b", attempt: 1, delayMs: 0 },
      ]);
      const respawned = events.filter((e) => e.type === "spawned").map((e) => e.path);
      expect(respawned).toEqual(reset.map((id) => `root/${id}`));
    });
  }
});

describe("restart types", () => {
  const one = (restart: ChildSpec["restart"]) => (log: string[]) => [{ id: "w", restart, start: worker("w", log) }];

  test("permanent: restarted after a normal stop and after a failure", async () => {
    const { clock, log, child, sup } = await setup({ strategy: "one_for_one" }, one("permanent"));
    child("w").tell({ type: "quit" });
    await clock.flush();
    child("w").tell({ type: "boom" });
    await clock.flush();
    expect(log).toEqual(["init w", "term w normal", "init w", "term w failed", "init w"]);
    expect(await sup.ask({ type: "children" })).toEqual([{ id: "w", path: "root/w", status: "running", restarts: 2 }]);
  });

  test("transient: restarted after a failure, not after a normal stop", async () => {
    const { clock, system, log, child, sup } = await setup({ strategy: "one_for_one" }, one("transient"));
    child("w").tell({ type: "boom" });
    await clock.flush();
    expect(system.isAlive("root/w")).toBe(true);
    child("w").tell({ type: "quit" });
    await clock.flush();
    expect(log).toEqual(["init w", "term w failed", "init w", "term w normal"]);
    expect(system.isAlive("root/w")).toBe(false);
    expect(await sup.ask({ type: "children" })).toEqual([{ id: "w", path: "root/w", status: "stopped", restarts: 1 }]);
  });

  test("temporary: never restarted, and removed from the children", async () => {
    for (const how of ["boom", "quit"] as const) {
      const { clock, system, log, child, sup } = await setup({ strategy: "one_for_one" }, one("temporary"));
      child("w").tell({ type: how });
      await clock.flush();
      expect(log).toEqual(["init w", `term w ${how === "boom" ? "failed" : "normal"}`]);
      expect(system.isAlive("root/w")).toBe(false);
      expect(await sup.ask({ type: "children" })).toEqual([]);
    }
  });

  test("a temporary sibling is stopped for good by one_for_all", async () => {
    const { clock, system, log, child, sup } = await setup({ strategy: "one_for_all" }, (log) => [
      { id: "a", start: worker("a", log) },
      { id: "t", restart: "temporary", start: worker("t", log) },
    ]);
    log.length = 0;
    child("a").tell({ type: "boom" });
    await clock.flush();
    expect(log).toEqual(["term a failed", "term t shutdown", "init a"]);
    expect(system.isAlive("root/t")).toBe(false);
    expect((await sup.ask({ type: "children" })).map((c) => c.id)).toEqual(["a"]);
  });
});

describe("ordered start and stop", () => {
  test("children init one after another in order and terminate in reverse order", async () => {
    const clock = new SimClock();
    const system = new ActorSystem({ name: "order", clock });
    const log: string[] = [];
    const children = ["a", "b", "c"].map((id) => ({ id, start: worker(id, log, { initMs: 10, termMs: 10 }) }));
    let started = false;
    void system.spawn("root", supervisor({ strategy: "one_for_one", children })).then(() => (started = true));
    await clock.flush();
    expect(system.isAlive("root/a")).toBe(true);
    expect(system.isAlive("root/b")).toBe(false); // not spawned before a's init finished

    await clock.advance(10);
    expect(log).toEqual(["init a"]);
    expect(system.isAlive("root/b")).toBe(true); // b is starting: spawned only after a's init finished
    expect(system.isAlive("root/c")).toBe(false);
    await clock.advance(20);
    expect(log).toEqual(["init a", "init b", "init c"]);
    expect(started).toBe(true);

    log.length = 0;
    const stopped = system.shutdown();
    await clock.advance(10);
    expect(log).toEqual(["term c shutdown"]);
    await clock.advance(20);
    await stopped;
    expect(log).toEqual(["term c shutdown", "term b shutdown", "term a shutdown"]);
  });

  test("a child whose terminate never resolves is killed after shutdownMs and the stop proceeds", async () => {
    const { clock, system, events, log } = await setup({ strategy: "one_for_one" }, (log) => [
      { id: "a", start: worker("a", log) },
      { id: "b", shutdownMs: 2000, start: worker("b", log, { hang: true }) },
      { id: "c", start: worker("c", log) },
    ]);
    let done = false;
    void system.shutdown().then(() => (done = true));

    await clock.advance(1999);
    expect(log).toEqual(["init a", "init b", "init c", "term c shutdown"]);
    expect(system.isAlive("root/b")).toBe(true);
    await clock.advance(1);
    expect(log.at(-1)).toBe("term a shutdown");
    expect(done).toBe(true);
    expect(system.isAlive("root/b")).toBe(false);
    expect(events).toContainEqual({ type: "stopped", path: "root/b", reason: "killed after shutdown timeout" });
  });

  test("a hanging sibling does not block a one_for_all restart past its shutdownMs", async () => {
    const { clock, log, child } = await setup({ strategy: "one_for_all" }, (log) => [
      { id: "a", start: worker("a", log) },
      { id: "h", shutdownMs: 500, start: worker("h", log, { hang: true }) },
    ]);
    log.length = 0;
    child("a").tell({ type: "boom" });
    await clock.advance(499);
    expect(log).toEqual(["term a failed"]);
    await clock.advance(1);
    expect(log).toEqual(["term a failed", "init a", "init h"]);
  });
});

describe("dynamic children", () => {
  test("startChild adds a running child; stop-child stops and removes it", async () => {
    const { clock, system, log, sup } = await setup({ strategy: "one_for_one" }, () => []);
    const d = await startChild<WMsg, { inc: number }>(sup, { id: "d", start: worker("d", log) });
    expect(d.path).toBe("root/d");
    expect(await d.ask({ type: "inc" })).toBe(1);
    expect(await sup.ask({ type: "children" })).toEqual([{ id: "d", path: "root/d", status: "running", restarts: 0 }]);

    d.tell({ type: "boom" });
    await clock.flush();
    expect(await d.ask({ type: "inc" })).toBe(1); // supervised like a static child

    expect(await sup.ask({ type: "stop-child", id: "d" })).toBe(true);
    expect(log).toEqual(["init d", "term d failed", "init d", "term d shutdown"]);
    expect(system.isAlive("root/d")).toBe(false);
    expect(await sup.ask({ type: "children" })).toEqual([]);
    expect(await sup.ask({ type: "stop-child", id: "d" })).toBe(false);
  });

  test("a duplicate start-child is refused without taking the supervisor down", async () => {
    const { clock, system, log, sup } = await setup({ strategy: "one_for_one" }, abc);
    const dup = await startChild(sup, { id: "b", start: worker("b2", log) }).catch((e: unknown) => e);
    await clock.flush();
    expect(dup).toBeInstanceOf(Error);
    expect((dup as Error).message).toContain("already exists");
    expect(system.isAlive("root")).toBe(true);
    expect(log).toEqual(["init a", "init b", "init c"]);
    expect((await sup.ask({ type: "children" })).map((c) => c.status)).toEqual(["running", "running", "running"]);
  });

  test("a stopped transient child can be started again under the same id", async () => {
    const { clock, log, sup, child } = await setup({ strategy: "one_for_one" }, (log) => [
      { id: "t", restart: "transient", start: worker("t", log) },
    ]);
    child("t").tell({ type: "quit" });
    await clock.flush();
    await startChild(sup, { id: "t", start: worker("t", log) });
    expect(await child("t").ask({ type: "inc" })).toBe(1);
    expect((await sup.ask({ type: "children" })).length).toBe(1);
  });
});
