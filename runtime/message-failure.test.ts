// A child set to resume (onMessageFailure: "resume") fails the one message that threw: the asker
// gets ActorFailedError, the state stays, and no restart counts toward the supervisor's
// intensity. The default ("crash") restarts, and past the intensity the supervisor escalates.

import { expect, test } from "bun:test";
import type { ActorFactory } from "./cell.ts";
import { SimClock } from "./clock.ts";
import { ActorFailedError } from "./errors.ts";
import type { InspectEvent } from "./events.ts";
import type { ActorRef } from "./ref.ts";
import { supervisor, type MessageFailure } from "./index.ts";
import { ActorSystem } from "./system.ts";

type Msg = { type: "inc" } | { type: "poison" };
type Ref = ActorRef<Msg, { inc: number; poison: never }>;

const counter: ActorFactory<Msg> = () => {
  let n = 0;
  return {
    receive(msg) {
      if (msg.type === "poison") throw new RangeError("Maximum call stack size exceeded");
      return ++n;
    },
  };
};

async function start(onMessageFailure?: MessageFailure) {
  const system = new ActorSystem({ name: "t", clock: new SimClock() });
  const events: InspectEvent[] = [];
  system.events.on((e) => void events.push(e));
  await system.spawn("root", supervisor({ strategy: "one_for_one", intensity: { maxRestarts: 2, periodMs: 10_000 }, children: [{ id: "c", start: counter, onMessageFailure }] }));
  return { system, events, ref: system.ref("root/c") as Ref };
}

test("resume: 50 poison asks are each answered with ActorFailedError; the actor keeps its state and never restarts", async () => {
  const { system, events, ref } = await start("resume");
  try {
    expect(await ref.ask({ type: "inc" })).toBe(1);
    for (let i = 0; i < 50; i++) {
      const error = await ref.ask({ type: "poison" }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ActorFailedError);
    }
    expect(await ref.ask({ type: "inc" })).toBe(2); // the same incarnation: its count survived
    expect(events.filter((e) => e.type === "message-failed")).toHaveLength(50);
    expect(events.some((e) => e.type === "restarted" || e.type === "escalated")).toBe(false);
    expect(system.isAlive("root")).toBe(true);
  } finally {
    await system.shutdown();
  }
});

test("crash (the default): poison asks restart the child and past the intensity the supervisor escalates", async () => {
  const { system, events, ref } = await start();
  try {
    for (let i = 0; i < 3; i++) {
      const error = await ref.ask({ type: "poison" }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ActorFailedError);
      await system.whenStopped("root/c");
      await new Promise((r) => setImmediate(r));
    }
    expect(events.filter((e) => e.type === "restarted")).toHaveLength(2);
    expect(events.some((e) => e.type === "escalated")).toBe(true);
  } finally {
    await system.shutdown();
  }
});
