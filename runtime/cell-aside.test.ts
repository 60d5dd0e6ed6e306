// Actor cell rules for work that does not fit in one handler call: long work aside via
// pipeToSelf (the actor keeps answering), after() timers cancelled on stop, late replies.

import { describe, expect, test } from "bun:test";
import type { Outcome } from "./cell.ts";
import { SimClock } from "./clock.ts";
import type { ReplyHandle } from "./ref.ts";
import { ActorStoppedError } from "./errors.ts";
import { ActorSystem } from "./system.ts";

function setup() {
  const clock = new SimClock();
  const system = new ActorSystem({ name: "cell", clock });
  return { clock, system };
}

type WorkerMsg =
  | { type: "start" }
  | { type: "status" }
  | { type: "started"; outcome: Outcome<string> };

describe("pipeToSelf", () => {
  test("long work runs aside; the actor keeps answering; the outcome comes back as a message", async () => {
    const { clock, system } = setup();
    let work: Promise<string> = Promise.resolve("");
    const ref = await system.spawn<WorkerMsg, { status: string }>("worker", (ctx) => {
      let state = "idle";
      return {
        receive(msg) {
          switch (msg.type) {
            case "start":
              state = "starting";
              work = ctx.clock.sleep(1000).then(() => "ready");
              ctx.pipeToSelf(work, (outcome) => ({ type: "started", outcome }));
              return;
            case "started":
              state = msg.outcome.ok ? msg.outcome.value : "broken";
              return;
            case "status":
              return state;
          }
        },
      };
    });
    ref.tell({ type: "start" });
    await clock.advance(100);
    expect(await ref.ask({ type: "status" }, { timeoutMs: 10 })).toBe("starting");
    await clock.advance(900);
    expect(await ref.ask({ type: "status" })).toBe("ready");
  });

  test("a failed work comes back as an error outcome, not a crash", async () => {
    const { clock, system } = setup();
    const outcomes: Outcome<string>[] = [];
    const ref = await system.spawn<WorkerMsg>("worker", (ctx) => ({
      receive(msg) {
        if (msg.type === "start") {
          const work = ctx.clock.sleep(10).then((): string => {
            throw new Error("worker died");
          });
          ctx.pipeToSelf(work, (outcome) => ({ type: "started", outcome }));
        }
        if (msg.type === "started") outcomes.push(msg.outcome);
      },
    }));
    ref.tell({ type: "start" });
    await clock.advance(10);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.ok).toBe(false);
    expect(system.isAlive("worker")).toBe(true);
  });

  test("an outcome arriving after the actor stopped is counted as a dead letter", async () => {
    const { clock, system } = setup();
    const ref = await system.spawn<WorkerMsg>("worker", (ctx) => ({
      receive(msg) {
        if (msg.type === "start") {
          ctx.pipeToSelf(ctx.clock.sleep(100).then(() => "late"), (outcome) => ({ type: "started", outcome }));
        }
      },
    }));
    ref.tell({ type: "start" });
    await clock.flush();
    await system.shutdown();
    expect(system.deadLetters()).toBe(0);
    await clock.advance(100);
    expect(system.deadLetters("stopped")).toBe(1);
  });
});

describe("after", () => {
  type TickMsg = { type: "tick" };

  test("delivers the message after the delay", async () => {
    const { clock, system } = setup();
    const ticks: number[] = [];
    await system.spawn<TickMsg>("a", (ctx) => ({
      init: () => void ctx.after(100, { type: "tick" }),
      receive: () => void ticks.push(ctx.clock.now()),
    }));
    await clock.advance(99);
    expect(ticks).toEqual([]);
    await clock.advance(1);
    expect(ticks).toEqual([100]);
  });

  test("pending timers are cancelled when the actor stops, before terminate runs", async () => {
    const { clock, system } = setup();
    const ticks: number[] = [];
    await system.spawn<TickMsg>("a", (ctx) => ({
      init() {
        ctx.after(100, { type: "tick" });
        ctx.after(200, { type: "tick" });
      },
      receive: () => void ticks.push(ctx.clock.now()),
      terminate: () => ctx.clock.sleep(1000), // slow cleanup
    }));
    expect(clock.pending()).toBe(2);
    await clock.advance(50);
    const stopped = system.shutdown();
    await clock.flush();
    expect(clock.pending()).toBe(1); // only terminate's sleep
    await clock.advance(1000);
    await stopped;
    expect(clock.pending()).toBe(0);
    expect(ticks).toEqual([]);
    expect(system.deadLetters()).toBe(0);
  });

  test("a timer cancelled by the actor does not fire", async () => {
    const { clock, system } = setup();
    const ticks: number[] = [];
    await system.spawn<TickMsg>("a", (ctx) => ({
      init: () => ctx.after(100, { type: "tick" }).cancel(),
      receive: () => void ticks.push(ctx.clock.now()),
    }));
    await clock.advance(200);
    expect(ticks).toEqual([]);
  });
});

describe("takeReply", () => {
  test("a handler can take the reply and answer later", async () => {
    const { clock, system } = setup();
    type M = { type: "get" } | { type: "release"; value: number };
    const ref = await system.spawn<M, { get: number }>("a", (ctx) => {
      const waiting: ReplyHandle<number>[] = [];
      return {
        receive(msg) {
          if (msg.type === "get") {
            waiting.push(ctx.takeReply<number>()!);
            return 999; // ignored: the reply was taken
          }
          for (const r of waiting.splice(0)) r.resolve(msg.value);
        },
      };
    });
    let answer: number | undefined;
    void ref.ask({ type: "get" }).then((v) => (answer = v));
    await clock.advance(100);
    expect(answer).toBeUndefined();

    ref.tell({ type: "release", value: 42 });
    await clock.flush();
    expect(answer).toBe(42);
    expect(clock.pending()).toBe(0); // the ask's timeout was disarmed
  });

  test("takeReply outside an ask returns undefined", async () => {
    const { clock, system } = setup();
    let taken: unknown = "unset";
    const ref = await system.spawn<{ type: "t" }>("a", (ctx) => ({
      receive: () => void (taken = ctx.takeReply()),
    }));
    ref.tell({ type: "t" });
    await clock.flush();
    expect(taken).toBeUndefined();
  });
});

test("a reply taken for later is rejected when the actor stops before answering", async () => {
  const clock = new SimClock();
  const system = new ActorSystem({ name: "held", clock });
  type M = { type: "later" };
  const ref = await system.spawn<M, { later: number }>("holder", (ctx) => ({
    receive() {
      ctx.takeReply();
    },
  }));
  const answer = ref.ask({ type: "later" }, { timeoutMs: 60_000 });
  await clock.flush();
  await system.shutdown();
  await expect(answer).rejects.toBeInstanceOf(ActorStoppedError);
});
