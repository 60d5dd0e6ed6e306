// LinkKeeper on a simulated clock: it reports each new link, reports its loss, and reconnects
// after an exponential backoff that resets once a connection succeeds. stop() ends it for good.

import { afterEach, describe, expect, test } from "bun:test";
import { SimClock, createLogger } from "../../runtime/index.ts";
import { LinkKeeper } from "./keeper.ts";
import type { Link } from "./link.ts";
import { memoryLinkPair, type MemoryLink } from "./memory.ts";

const POLICY = { initialMs: 10, maxMs: 50, factor: 2, jitter: 0 };

const keepers: LinkKeeper[] = [];
afterEach(() => {
  for (const k of keepers.splice(0)) k.stop();
});

/** A connector that follows a script: "ok" hands out a fresh memory link, "fail" rejects. */
function harness(script: ("ok" | "fail")[], fallback: "ok" | "fail" = "ok") {
  const clock = new SimClock();
  const attempts: number[] = [];
  const farEnds: MemoryLink[] = [];
  const events: string[] = [];
  const logLines: string[] = [];
  const signals: AbortSignal[] = [];
  const keeper = new LinkKeeper({
    clock,
    random: () => 0.5,
    log: createLogger({ clock, sink: (l) => logLines.push(l) }),
    backoff: POLICY,
    connect: async (signal) => {
      attempts.push(clock.now());
      signals.push(signal);
      const step = script.shift() ?? fallback;
      if (step === "fail") throw new Error("refused");
      const [near, far] = memoryLinkPair();
      farEnds.push(far);
      return near;
    },
    onUp: (link: Link) => events.push(`up:${link.id}`),
    onDown: (reason) => events.push(`down:${reason}`),
  });
  keepers.push(keeper);
  return { clock, keeper, attempts, farEnds, events, logLines, signals };
}

describe("LinkKeeper", () => {
  test("reports the link, its loss, and reconnects after the initial backoff", async () => {
    const { clock, keeper, attempts, farEnds, events } = harness([]);
    keeper.start();
    await clock.flush();
    expect(attempts).toEqual([0]);
    const first = keeper.link!;
    expect(first.open).toBe(true);
    expect(events).toEqual([`up:${first.id}`]);

    farEnds[0]!.close("server went away");
    await clock.flush();
    expect(events[1]).toBe("down:peer closed: server went away");
    expect(keeper.link).toBeUndefined();

    await clock.advance(9);
    expect(attempts).toEqual([0]);
    await clock.advance(1);
    expect(attempts).toEqual([0, 10]);
    const second = keeper.link!;
    expect(second.id).not.toBe(first.id);
    expect(events).toEqual([`up:${first.id}`, "down:peer closed: server went away", `up:${second.id}`]);
  });

  test("failed attempts back off exponentially up to the cap", async () => {
    const { clock, keeper, attempts, events, logLines } = harness([], "fail");
    keeper.start();
    await clock.advance(200);
    // Delays 10, 20, 40, then capped at 50.
    expect(attempts).toEqual([0, 10, 30, 70, 120, 170]);
    expect(events).toEqual([]);
    expect(logLines.filter((l) => l.includes("Could not reach the control plane"))).toHaveLength(attempts.length);
  });

  test("a successful connection resets the backoff", async () => {
    const { clock, keeper, attempts, farEnds } = harness(["fail", "fail", "ok"]);
    keeper.start();
    await clock.advance(30);
    expect(attempts).toEqual([0, 10, 30]);
    expect(keeper.link).toBeDefined();
    farEnds[0]!.close();
    await clock.advance(10);
    expect(attempts).toEqual([0, 10, 30, 40]);
  });

  test("stop while connected closes the link, reports no loss and never reconnects", async () => {
    const { clock, keeper, attempts, farEnds, events } = harness([]);
    keeper.start();
    await clock.flush();
    keeper.stop();
    await clock.advance(1_000);
    expect(farEnds[0]!.open).toBe(false);
    expect(events.filter((e) => e.startsWith("down"))).toEqual([]);
    expect(attempts).toEqual([0]);
    expect(clock.pending()).toBe(0);
  });

  test("stop during the backoff ends the loop and aborts the connector's signal", async () => {
    const { clock, keeper, attempts, signals } = harness([], "fail");
    keeper.start();
    await clock.advance(5);
    expect(attempts).toEqual([0]);
    keeper.stop();
    await clock.advance(1_000);
    expect(attempts).toEqual([0]);
    expect(signals[0]!.aborted).toBe(true);
  });

  test("a connection that completes after stop is closed at once", async () => {
    const clock = new SimClock();
    const [near, far] = memoryLinkPair();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ups: Link[] = [];
    const keeper = new LinkKeeper({
      clock,
      random: () => 0.5,
      log: createLogger({ clock, sink: () => {} }),
      backoff: POLICY,
      connect: async () => {
        await gate;
        return near;
      },
      onUp: (l) => ups.push(l),
      onDown: () => {},
    });
    keepers.push(keeper);
    keeper.start();
    keeper.stop();
    release();
    await clock.flush();
    expect(near.open).toBe(false);
    expect(far.open).toBe(false);
    expect(ups).toEqual([]);
  });
});
