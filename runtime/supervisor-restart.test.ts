// Supervisor restart limits: intensity per window with escalation to the parent supervisor, and
// restart delays decided by a child's `restartDelay` hook (here exponential backoff with an
// injected random, reset after a stable run), including restart-now and a pending restart at shutdown.

import { describe, expect, test } from "bun:test";
import type { ActorFactory } from "./cell.ts";
import { SimClock } from "./clock.ts";
import { ActorStoppedError } from "./errors.ts";
import type { InspectEvent } from "./events.ts";
import { backoffDelay, type BackoffPolicy } from "./policy.ts";
import type { ActorRef } from "./ref.ts";
import { supervisor, type ChildSpec, type RestartDelayHook, type SupervisorMsg, type SupervisorReplies, type SupervisorSpec } from "./supervisor.ts";
import { ActorSystem } from "./system.ts";

type WMsg = { type: "get" } | { type: "boom" };

function worker(id: string, log: string[]): ActorFactory<WMsg> {
  return () => ({
    init: () => void log.push(`init ${id}`),
    receive(msg) {
      if (msg.type === "boom") throw new Error(`boom ${id}`);
      return id;
    },
    terminate: (r) => void log.push(`term ${id} ${r.kind}`),
  });
}

function setup(random = 0.5) {
  const clock = new SimClock();
  const system = new ActorSystem({ name: "restart", clock, random: () => random });
  const events: InspectEvent[] = [];
  system.events.on((e) => events.push(e));
  const log: string[] = [];
  const crash = async (path: string) => {
    expect(system.ref<WMsg>(path).tell({ type: "boom" })).toEqual({ ok: true });
    await clock.flush();
  };
  return { clock, system, events, log, crash };
}

const abc = (log: string[]): ChildSpec[] => ["a", "b", "c"].map((id) => ({ id, start: worker(id, log) }));

describe("restart intensity", () => {
  test("counts only restarts inside the sliding window", async () => {
    const { clock, system, events, crash, log } = setup();
    await system.spawn("root", supervisor({ strategy: "one_for_one", intensity: { maxRestarts: 2, periodMs: 1000 }, children: abc(log) }));
    await crash("root/a");
    await clock.advance(600);
    await crash("root/a");
    await clock.advance(600);
    await crash("root/a"); // the one at t=0 left the window
    expect(system.isAlive("root")).toBe(true);
    expect(events.filter((e) => e.type === "restarted")).toHaveLength(3);

    await clock.advance(100);
    await crash("root/a"); // three restarts within 1000 ms
    expect(events.filter((e) => e.type === "escalated").map((e) => e.path)).toEqual(["root", "root"]);
    expect(system.isAlive("root")).toBe(false);
  });

  test("exceeded: stops the remaining children in reverse order, fails, and the parent restarts it", async () => {
    const { system, events, log, crash } = setup();
    const mid = supervisor({ strategy: "one_for_one", intensity: { maxRestarts: 1, periodMs: 1000 }, children: abc(log) });
    await system.spawn("root", supervisor({ strategy: "one_for_one", children: [{ id: "mid", start: mid }] }));
    log.length = 0;
    events.length = 0;

    await crash("root/mid/a");
    expect(log).toEqual(["term a failed", "init a"]);
    await crash("root/mid/a");

    expect(log).toEqual([
      "term a failed",
      "init a",
      "term a failed",
      "term c shutdown",
      "term b shutdown",
      "init a",
      "init b",
      "init c",
    ]);
    const escalation = events.filter((e) => e.path === "root/mid" && e.type !== "delivered").map((e) => e.type);
    expect(escalation).toEqual(["escalated", "failed", "stopped", "restarted", "spawned"]);
    for (const p of ["root", "root/mid", "root/mid/a", "root/mid/b", "root/mid/c"]) expect(system.isAlive(p)).toBe(true);
    expect(await system.ref<WMsg, { get: string }>("root/mid/c").ask({ type: "get" })).toBe("c");
  });

  test("a parent that itself exceeds its intensity escalates further", async () => {
    const { system, events, log, crash } = setup();
    const mid = supervisor({ strategy: "one_for_one", intensity: { maxRestarts: 0, periodMs: 1000 }, children: abc(log) });
    const siblingLog: string[] = [];
    await system.spawn(
      "root",
      supervisor({
        strategy: "one_for_one",
        intensity: { maxRestarts: 0, periodMs: 1000 },
        children: [{ id: "s", start: worker("s", siblingLog) }, { id: "mid", start: mid }],
      }),
    );

    await crash("root/mid/b");

    const escalated = events.filter((e) => e.type === "escalated");
    expect(escalated.map((e) => e.path)).toEqual(["root/mid", "root", "root"]);
    expect(escalated.at(-1)).toEqual({ type: "escalated", path: "root", reason: "top-level actor failed" });
    expect(log.slice(3)).toEqual(["term b failed", "term c shutdown", "term a shutdown"]);
    expect(siblingLog).toEqual(["init s", "term s shutdown"]);
    for (const p of ["root", "root/s", "root/mid", "root/mid/a"]) expect(system.isAlive(p)).toBe(false);
  });
});

describe("restart delays from a backoff hook", () => {
  const policy: BackoffPolicy = { initialMs: 1000, maxMs: 4000, jitter: 0.1 };

  /**
   * A child `w` whose restartDelay hook backs off exponentially, counting its own attempts; a run
   * of `resetAfterMs` (from the exit's startedAt) starts the sequence over.
   */
  async function spawnWithBackoff(random: number, backoff: BackoffPolicy = policy, resetAfterMs = Infinity) {
    const s = setup(random);
    let attempt = 0;
    const restartDelay: RestartDelayHook = ({ now, startedAt, random: draw }) => {
      attempt = now - (startedAt ?? now) >= resetAfterMs ? 1 : attempt + 1;
      return backoffDelay(attempt, backoff, draw);
    };
    const spec: SupervisorSpec = {
      strategy: "one_for_one",
      intensity: { maxRestarts: 100, periodMs: 60_000 },
      children: [{ id: "w", restartDelay, start: worker("w", s.log) }],
    };
    await s.system.spawn("root", supervisor(spec));
    const w: ActorRef<WMsg, { get: string }> = s.system.ref("root/w");
    /** Crashes w and checks it is down for exactly `delayMs` of simulated time. */
    const crashAndWait = async (delayMs: number) => {
      await s.crash("root/w");
      const restarted = s.events.filter((e) => e.type === "restarted").at(-1);
      expect(restarted).toMatchObject({ path: "root/w", delayMs });
      expect(s.system.isAlive("root/w")).toBe(false);
      await s.clock.advance(delayMs - 1);
      expect(s.system.isAlive("root/w")).toBe(false);
      await s.clock.advance(1);
      expect(s.system.isAlive("root/w")).toBe(true);
    };
    return { ...s, w, crashAndWait };
  }

  test("delays grow 1000, 2000, 4000 and cap at max (random 0.5: no jitter)", async () => {
    const { crashAndWait, events } = await spawnWithBackoff(0.5);
    for (const d of [1000, 2000, 4000, 4000]) await crashAndWait(d);
    expect(events.filter((e) => e.type === "restarted").map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2, 3, 4]);
  });

  test("random 0 gives -10% jitter", async () => {
    const { crashAndWait } = await spawnWithBackoff(0);
    for (const d of [900, 1800, 3600, 3600]) await crashAndWait(d);
  });

  test("random near 1 gives +10% jitter, never above max", async () => {
    const { crashAndWait } = await spawnWithBackoff(0.999999);
    for (const d of [1100, 2200, 4000, 4000]) await crashAndWait(d);
  });

  test("the child refuses messages while it waits for its restart", async () => {
    const { crash, clock, w } = await spawnWithBackoff(0.5);
    await crash("root/w");
    await clock.advance(500);
    expect(w.tell({ type: "get" })).toEqual({ ok: false, reason: "stopped" });
    expect(await w.ask({ type: "get" }).catch((e: unknown) => e)).toBeInstanceOf(ActorStoppedError);
    await clock.advance(500);
    expect(await w.ask({ type: "get" })).toBe("w");
  });

  test("the hook sees when the run started: backoff starts again from initialMs after a stable run", async () => {
    const { crashAndWait, clock } = await spawnWithBackoff(0.5, { initialMs: 1000, maxMs: 60_000 }, 5000);
    await crashAndWait(1000);
    await crashAndWait(2000);
    await clock.advance(4999); // not quite stable
    await crashAndWait(4000);
    await clock.advance(5000);
    await crashAndWait(1000);
    await crashAndWait(2000);
  });

  test("restart-now starts a child waiting out its delay; the pending restart is dropped", async () => {
    const { crash, clock, system, events, log, w } = await spawnWithBackoff(0.5);
    const sup = system.ref<SupervisorMsg, SupervisorReplies>("root");
    expect(await sup.ask({ type: "restart-now", id: "w" })).toBe(false); // running: nothing to do
    await crash("root/w");
    await clock.advance(10);
    expect(system.isAlive("root/w")).toBe(false);
    expect(await sup.ask({ type: "restart-now", id: "w" })).toBe(true);
    expect(await w.ask({ type: "get" })).toBe("w");
    expect(await sup.ask({ type: "children" })).toEqual([{ id: "w", path: "root/w", status: "running", restarts: 1 }]);
    await clock.advance(5000); // the original 1000 ms restart never fires
    expect(log).toEqual(["init w", "term w failed", "init w"]);
    expect(events.filter((e) => e.type === "restarted")).toHaveLength(1);
    expect(await sup.ask({ type: "restart-now", id: "nope" })).toBe(false);
  });

  test("a restart still pending when the supervisor stops never happens", async () => {
    const { crash, clock, system, log } = await spawnWithBackoff(0.5);
    await crash("root/w");
    await system.shutdown();
    expect(clock.pending()).toBe(0);
    await clock.advance(10_000);
    expect(system.isAlive("root/w")).toBe(false);
    expect(log).toEqual(["init w", "term w failed"]);
  });
});

describe("restartDelay", () => {
  test("decides each restart's delay from the exit", async () => {
    const { clock, system, events, crash, log } = setup();
    const seen: string[] = [];
    const delays = [250, 1000];
    await system.spawn(
      "root",
      supervisor({
        strategy: "one_for_one",
        children: [
          {
            id: "a",
            start: worker("a", log),
            restartDelay: ({ reason, startedAt, now }) => {
              seen.push(`${reason.kind} ran ${now - (startedAt ?? now)}`);
              return delays.shift() ?? 0;
            },
          },
        ],
      }),
    );
    await clock.advance(100);
    await crash("root/a");
    expect(events.filter((e) => e.type === "restarted").at(-1)).toMatchObject({ delayMs: 250 });
    await clock.advance(249);
    expect(system.isAlive("root/a")).toBe(false);
    await clock.advance(1);
    expect(system.isAlive("root/a")).toBe(true);
    await crash("root/a");
    expect(events.filter((e) => e.type === "restarted").at(-1)).toMatchObject({ delayMs: 1000 });
    expect(seen).toEqual(["failed ran 100", "failed ran 0"]);
  });
});
