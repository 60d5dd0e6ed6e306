// Asks: every ask has a deadline that travels with the message; late, refused and undeliverable
// asks fail with a tagged error.

import { describe, expect, test } from "bun:test";
import { SimClock } from "./clock.ts";
import { ActorStoppedError, AskTimeoutError, MailboxFullError } from "./errors.ts";
import { DEFAULT_ASK_TIMEOUT_MS, isActorRef } from "./ref.ts";
import { ActorSystem } from "./system.ts";

type Msg =
  | { type: "echo"; value: string }
  | { type: "slow"; ms: number }
  | { type: "hang" }
  | { type: "deadline" };

interface Replies {
  echo: string;
  slow: void;
  hang: void;
  deadline: number | undefined;
}

async function setup(start = 0, capacity = 100) {
  const clock = new SimClock(start);
  const system = new ActorSystem({ name: "ask", clock });
  const handled: string[] = [];
  const ref = await system.spawn<Msg, Replies>(
    "a",
    (ctx) => ({
      async receive(msg) {
        handled.push(msg.type);
        switch (msg.type) {
          case "echo":
            return msg.value;
          case "slow":
            await ctx.clock.sleep(msg.ms);
            return;
          case "hang":
            ctx.takeReply(); // never answered
            return;
          case "deadline":
            return ctx.deadline();
        }
      },
    }),
    { mailbox: { capacity, overflow: "reject" } },
  );
  return { clock, system, ref, handled };
}

describe("ask", () => {
  test("resolves with the handler's return value and disarms its timeout", async () => {
    const { clock, ref } = await setup();
    expect(await ref.ask({ type: "echo", value: "hi" })).toBe("hi");
    expect(clock.pending()).toBe(0);
  });

  test("rejects with AskTimeoutError once the deadline passes, not before", async () => {
    const { clock, ref } = await setup();
    let outcome: unknown = "pending";
    ref.ask({ type: "hang" }, { timeoutMs: 1000 }).then(
      () => (outcome = "resolved"),
      (e: unknown) => (outcome = e),
    );
    await clock.advance(999);
    expect(outcome).toBe("pending");
    await clock.advance(1);
    expect(outcome).toBeInstanceOf(AskTimeoutError);
    expect((outcome as AskTimeoutError).code).toBe("ASK_TIMEOUT");
  });

  test("uses the default timeout when none is given", async () => {
    const { clock, ref } = await setup();
    let outcome: unknown = "pending";
    ref.ask({ type: "hang" }).catch((e: unknown) => (outcome = e));
    await clock.advance(DEFAULT_ASK_TIMEOUT_MS - 1);
    expect(outcome).toBe("pending");
    await clock.advance(1);
    expect(outcome).toBeInstanceOf(AskTimeoutError);
  });

  test("the deadline travels with the message: ctx.deadline() is now + timeout", async () => {
    const { clock, ref } = await setup(250);
    expect(await ref.ask({ type: "deadline" }, { timeoutMs: 1000 })).toBe(1250);
    await clock.advance(50);
    expect(await ref.ask({ type: "deadline" }, { deadline: 777 })).toBe(777);
    expect(await ref.ask({ type: "deadline" })).toBe(300 + DEFAULT_ASK_TIMEOUT_MS);
  });

  test("a told message carries no deadline", async () => {
    const clock = new SimClock();
    const system = new ActorSystem({ name: "t", clock });
    const seen: (number | undefined)[] = [];
    const ref = await system.spawn<{ type: "d" }>("a", (ctx) => ({ receive: () => void seen.push(ctx.deadline()) }));
    ref.tell({ type: "d" });
    await clock.flush();
    expect(seen).toEqual([undefined]);
  });

  test("a message whose deadline passed while queued is skipped and counted as expired", async () => {
    const { clock, system, ref, handled } = await setup();
    ref.tell({ type: "slow", ms: 500 });
    await clock.flush();
    const late = ref.ask({ type: "echo", value: "late" }, { timeoutMs: 100 }).catch((e: unknown) => e);
    const inTime = ref.ask({ type: "echo", value: "ok" }, { timeoutMs: 600 });

    await clock.advance(500);
    expect(await late).toBeInstanceOf(AskTimeoutError);
    expect(await inTime).toBe("ok");
    expect(handled).toEqual(["slow", "echo"]);
    expect(system.deadLetters("expired")).toBe(1);
  });

  test("a told message queued behind expired asks is still handled", async () => {
    const { clock, system, ref, handled } = await setup();
    ref.tell({ type: "slow", ms: 500 });
    await clock.flush();
    const asks = [1, 2, 3].map(() => ref.ask({ type: "deadline" }, { timeoutMs: 10 }).catch(() => "timeout"));
    ref.tell({ type: "echo", value: "told" });
    await clock.advance(500);
    expect(await Promise.all(asks)).toEqual(["timeout", "timeout", "timeout"]);
    expect(handled).toEqual(["slow", "echo"]);
    expect(system.deadLetters("expired")).toBe(3);
  });

  test("a told envelope with a passed deadline (e.g. from a transport) is skipped as expired", async () => {
    const { clock, system, handled } = await setup();
    system.ref<Msg>("a").tell({ type: "slow", ms: 500 });
    await clock.flush();
    expect(system.deliver("a", { msg: { type: "deadline" }, deadline: 100 })).toEqual({ ok: true });
    expect(system.deliver("a", { msg: { type: "deadline" }, deadline: 500 })).toEqual({ ok: true });
    await clock.advance(500);
    expect(handled).toEqual(["slow", "deadline"]);
    expect(system.deadLetters("expired")).toBe(1);
  });

  test("an ask to a full mailbox rejects with MailboxFullError", async () => {
    const { clock, system, ref } = await setup(0, 1);
    ref.tell({ type: "slow", ms: 100 });
    await clock.flush();
    expect(ref.tell({ type: "echo", value: "fills" }).ok).toBe(true);
    const err = await ref.ask({ type: "echo", value: "x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailboxFullError);
    expect((err as MailboxFullError).code).toBe("MAILBOX_FULL");
    expect(system.deadLetters("full")).toBe(1);
    expect(clock.pending()).toBe(1); // only the sleep; the refused ask left no timer
  });

  test("an ask to a stopped or unknown actor rejects with ActorStoppedError", async () => {
    const { system, ref } = await setup();
    await system.shutdown();
    const err = await ref.ask({ type: "echo", value: "x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ActorStoppedError);
    expect((err as ActorStoppedError).code).toBe("ACTOR_STOPPED");
    const unknown = system.ref<Msg, Replies>("nobody");
    expect(await unknown.ask({ type: "echo", value: "x" }).catch((e: unknown) => e)).toBeInstanceOf(ActorStoppedError);
    expect(system.deadLetters("stopped")).toBe(2);
  });

  test("an ask still queued when the actor stops rejects with ActorStoppedError", async () => {
    const { clock, system, ref } = await setup();
    ref.tell({ type: "slow", ms: 100 });
    await clock.flush();
    const queued = ref.ask({ type: "echo", value: "x" }).catch((e: unknown) => e);
    const stopped = system.shutdown();
    await clock.advance(100);
    await stopped;
    expect(await queued).toBeInstanceOf(ActorStoppedError);
  });
});

describe("refs", () => {
  test("isActorRef recognises refs by shape", async () => {
    const { ref } = await setup();
    expect(isActorRef(ref)).toBe(true);
    expect(isActorRef({ path: "a" })).toBe(false);
    expect(isActorRef(null)).toBe(false);
  });
});
