// RemoteEndpoint over an in-memory link between two actor systems: tells and asks cross, asks
// carry their deadline, only exported paths are reachable, refs in payloads come home as local
// refs, and a closed link fails what is still waiting.

import { afterEach, describe, expect, test } from "bun:test";
import {
  ActorSystem,
  DEFAULT_ASK_TIMEOUT_MS,
  SimClock,
  UnreachableError,
  type ActorRef,
  type Message,
  type RuntimeError,
} from "../../runtime/index.ts";
import { RemoteEndpoint, RemoteError, RemoteRef } from "./endpoint.ts";
import type { Envelope } from "./envelope.ts";
import { memoryLinkPair } from "./memory.ts";
import { WireError } from "./wire.ts";

type Msg =
  | { type: "echo"; value: unknown }
  | { type: "note"; text: string }
  | { type: "deadline" }
  | { type: "hang" }
  | { type: "boom" }
  | { type: "bad-reply" }
  | { type: "call-back"; replyTo: ActorRef<Message> }
  | { type: "return-ref"; ref: ActorRef<Message> };

interface Replies {
  echo: unknown;
  deadline: number | undefined;
  hang: void;
  boom: void;
  "bad-reply": unknown;
  "call-back": void;
  "return-ref": ActorRef<Message>;
}

const open: ActorSystem[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.shutdown();
});

async function setup(remoteClock?: SimClock) {
  const clock = new SimClock(1_000);
  const local = new ActorSystem({ name: "local", clock });
  const remote = new ActorSystem({ name: "remote", clock: remoteClock ?? clock });
  open.push(local, remote);
  const notes: string[] = [];
  const received: Msg[] = [];
  await remote.spawn<Msg, Replies>("svc/a", (ctx) => ({
    receive(msg) {
      received.push(msg);
      switch (msg.type) {
        case "echo":
          return msg.value;
        case "note":
          notes.push(msg.text);
          return;
        case "deadline":
          return ctx.deadline();
        case "hang":
          ctx.takeReply();
          return;
        case "boom":
          throw new Error("kaput");
        case "bad-reply":
          return { when: new Date(0) };
        case "call-back":
          msg.replyTo.tell({ type: "note", text: "called back" } as Message);
          return;
        case "return-ref":
          return msg.ref;
      }
    },
  }));
  await remote.spawn("private/b", () => ({ receive: () => "secret" }));
  // A local inbox for messages that come back over the link.
  await local.spawn<Msg>("home/inbox", () => ({
    receive(msg) {
      if (msg.type === "note") notes.push(`home:${msg.text}`);
    },
  }));
  const [la, lb] = memoryLinkPair();
  const near = new RemoteEndpoint(local, la, { exports: ["home/"] });
  const far = new RemoteEndpoint(remote, lb, { exports: ["svc/"] });
  const svc = near.remoteRef<Msg, Replies>("svc/a");
  return { clock, local, remote, near, far, la, lb, svc, notes, received };
}

async function rejection(p: Promise<unknown>): Promise<RuntimeError> {
  try {
    await p;
  } catch (error) {
    return error as RuntimeError;
  }
  throw new Error("expected a rejection");
}

describe("RemoteEndpoint", () => {
  test("a tell reaches the remote actor", async () => {
    const { clock, svc, notes } = await setup();
    expect(svc.tell({ type: "note", text: "hello" })).toEqual({ ok: true });
    await clock.flush();
    expect(notes).toEqual(["hello"]);
  });

  test("an ask is answered through a $reply envelope", async () => {
    const { clock, svc, la } = await setup();
    const arrived: Envelope[] = [];
    la.onEnvelope((e) => arrived.push(e));
    const answer = svc.ask({ type: "echo", value: { n: 1, list: ["x"] } });
    await clock.flush();
    expect(await answer).toEqual({ n: 1, list: ["x"] });
    expect(arrived).toHaveLength(1);
    expect(arrived[0]).toMatchObject({ type: "$reply", payload: { ok: true, value: { n: 1, list: ["x"] } } });
  });

  test("the ask's deadline travels with it and reaches the remote handler", async () => {
    const { clock, svc } = await setup();
    const answer = svc.ask({ type: "deadline" }, { timeoutMs: 1234 });
    await clock.flush();
    expect(await answer).toBe(1_000 + 1234);
    const byDefault = svc.ask({ type: "deadline" });
    await clock.flush();
    expect(await byDefault).toBe(1_000 + DEFAULT_ASK_TIMEOUT_MS);
  });

  test("a receiver already past the deadline skips the work", async () => {
    const late = new SimClock(10_000);
    const { clock, svc, received, remote } = await setup(late);
    const failed = rejection(svc.ask({ type: "echo", value: 1 }, { timeoutMs: 100 }));
    await clock.flush();
    await late.flush();
    await clock.flush();
    expect(received).toEqual([]);
    expect((await failed).code).toBe("ACTOR_STOPPED");
    expect(remote.deadLetters("expired")).toBe(1);
  });

  test("an unanswered ask times out at its deadline, not before", async () => {
    const { clock, svc } = await setup();
    let settled = false;
    const answer = svc.ask({ type: "hang" }, { timeoutMs: 500 });
    answer.then(
      () => (settled = true),
      () => (settled = true),
    );
    await clock.advance(499);
    expect(settled).toBe(false);
    const clockDone = clock.advance(1);
    expect((await rejection(answer)).code).toBe("ASK_TIMEOUT");
    await clockDone;
  });

  test("paths outside the exports are refused and counted", async () => {
    const { clock, near, far } = await setup();
    const hidden = near.remoteRef<{ type: "peek" }, { peek: string }>("private/b");
    const failed = rejection(hidden.ask({ type: "peek" }));
    await clock.flush();
    const error = await failed;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.code).toBe("ACTOR_STOPPED");
    expect(error.message).toContain("not reachable from this link");
    hidden.tell({ type: "peek" });
    await clock.flush();
    expect(far.rejected).toBe(2);
  });

  test("an exported path with no actor behind it answers ACTOR_STOPPED", async () => {
    const { clock, near } = await setup();
    const failed = rejection(near.remoteRef<{ type: "x" }, { x: void }>("svc/nobody").ask({ type: "x" }));
    await clock.flush();
    expect((await failed).code).toBe("ACTOR_STOPPED");
  });

  test("a remote handler that throws answers ACTOR_FAILED with its message", async () => {
    const { clock, svc } = await setup();
    const failed = rejection(svc.ask({ type: "boom" }));
    await clock.flush();
    const error = await failed;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.code).toBe("ACTOR_FAILED");
    expect(error.message).toContain("kaput");
  });

  test("a peer's error code is checked, not cast: an unknown one reads as ACTOR_FAILED and keeps the peer's word", () => {
    const foreign = new RemoteError("TOTALLY_MADE_UP", "the peer says no");
    expect(foreign.code).toBe("ACTOR_FAILED");
    expect(foreign.remoteCode).toBe("TOTALLY_MADE_UP");
    expect(foreign.message).toBe("the peer says no");
    expect(new RemoteError("ASK_TIMEOUT", "slow").code).toBe("ASK_TIMEOUT");
    expect(new RemoteError("INVALID_MESSAGE", "garbled").code).toBe("INVALID_MESSAGE");
    expect(new RemoteError("x".repeat(10_000), "long").remoteCode.length).toBe(64);
  });

  test("a reply that cannot cross the wire fails the ask instead of vanishing", async () => {
    const { clock, svc } = await setup();
    const failed = rejection(svc.ask({ type: "bad-reply" }));
    await clock.flush();
    const error = await failed;
    expect(error.code).toBe("ACTOR_FAILED");
    expect(error.message).toContain("instance of Date");
  });

  test("a payload that cannot cross the wire fails on the sending side", async () => {
    const { svc } = await setup();
    const error = await rejection(svc.ask({ type: "echo", value: () => 1 }));
    expect(error).toBeInstanceOf(WireError);
    expect(() => svc.tell({ type: "echo", value: 1n })).toThrow(WireError);
  });

  test("a payload whose type differs from the envelope's is refused as INVALID_MESSAGE", async () => {
    const { clock, la, far, received } = await setup();
    const replies: Envelope[] = [];
    la.onEnvelope((e) => replies.push(e));
    la.send({ v: 1, id: "raw-1", to: "svc/a", type: "echo", ask: true, payload: { type: "note", text: "x" } });
    await clock.flush();
    expect(received).toEqual([]);
    expect(far.rejected).toBe(1);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ type: "$reply", replyTo: "raw-1", payload: { ok: false, error: { code: "INVALID_MESSAGE" } } });
  });

  test("a local ref sent over arrives as a RemoteRef that routes back", async () => {
    const { clock, local, svc, received, notes } = await setup();
    svc.tell({ type: "call-back", replyTo: local.ref("home/inbox") });
    await clock.flush();
    const got = received[0] as Extract<Msg, { type: "call-back" }>;
    expect(got.replyTo).toBeInstanceOf(RemoteRef);
    expect(got.replyTo.path).toBe("home/inbox");
    expect(notes).toEqual(["home:called back"]);
  });

  test("a ref sent to the peer and sent back comes home as a local ref", async () => {
    const { clock, local, svc, notes } = await setup();
    const answer = svc.ask({ type: "return-ref", ref: local.ref("home/inbox") });
    await clock.flush();
    const back = await answer;
    expect(back).not.toBeInstanceOf(RemoteRef);
    expect(back.path).toBe("home/inbox");
    // A local ref does not need the link: it still delivers after the link is gone.
    svc.endpoint.close();
    expect(back.tell({ type: "note", text: "after close" } as Message)).toEqual({ ok: true });
    await clock.flush();
    expect(notes).toEqual(["home:after close"]);
  });

  test("a ref back into an unexported path is refused like a direct address", async () => {
    const { clock, near, far, received } = await setup();
    const before = far.rejected;
    // Hand-made envelope: the peer claims a ref to `private/b` on the receiving side.
    near.link.send({ v: 1, id: "forged", to: "svc/a", type: "echo", payload: { type: "echo", value: { $peerRef: "private/b" } } });
    await clock.flush();
    expect(far.rejected).toBe(before + 1);
    expect(received).toEqual([]);
  });

  test("a ref of another link cannot be forwarded", async () => {
    const { svc, local } = await setup();
    const [x] = memoryLinkPair();
    const other = new RemoteEndpoint(local, x, { exports: [] }).remoteRef("elsewhere/c");
    expect(() => svc.tell({ type: "call-back", replyTo: other })).toThrow(/another link/);
    x.close();
  });

  test("closing the link rejects pending asks with UnreachableError", async () => {
    const { clock, svc, near } = await setup();
    const answer = svc.ask({ type: "hang" }, { timeoutMs: 60_000 });
    await clock.flush();
    const closes: string[] = [];
    near.onClose((r) => closes.push(r));
    near.close("going away");
    const error = await rejection(answer);
    expect(error).toBeInstanceOf(UnreachableError);
    expect(error.code).toBe("UNREACHABLE");
    expect(error.message).toContain("going away");
    expect(closes).toEqual(["going away"]);
  });

  test("the far side learns of the close too, and its pending asks fail", async () => {
    const { clock, far, near, local } = await setup();
    await local.spawn("home/hang", (ctx) => ({ receive: () => void ctx.takeReply() }));
    const back = far.remoteRef<{ type: "hang" }, { hang: void }>("home/hang").ask({ type: "hang" });
    await clock.flush();
    near.close("bye");
    expect((await rejection(back)).code).toBe("UNREACHABLE");
    expect(far.open).toBe(false);
  });

  test("on a closed link, tells say unreachable and are dead letters; asks reject at once", async () => {
    const { svc, near, local } = await setup();
    near.close();
    expect(svc.tell({ type: "note", text: "lost" })).toEqual({ ok: false, reason: "unreachable" });
    expect(local.deadLetters("unreachable")).toBe(1);
    expect((await rejection(svc.ask({ type: "echo", value: 1 }))).code).toBe("UNREACHABLE");
  });

  test("an authorize hook refuses before decoding, counts by reason, may replace the payload; peerRefs:false refuses refs home", async () => {
    const { clock, local, remote, notes } = await setup();
    const [la, lb] = memoryLinkPair();
    const reasons: string[] = [];
    const near = new RemoteEndpoint(local, la, { exports: ["home/"] });
    const far = new RemoteEndpoint(remote, lb, {
      exports: ["svc/"],
      peerRefs: false,
      onRefused: (reason) => reasons.push(reason),
      authorize: (env) => {
        if (env.type === "boom") return { ok: false, code: "INVALID_MESSAGE", reason: "type", message: "no booms" };
        if (env.type === "hang") return { ok: false, code: "ACTOR_STOPPED", reason: "task", message: "late", quiet: true };
        if (env.type === "note") return { ok: true, payload: { type: "note", text: "rewritten" } };
        return { ok: true };
      },
    });
    const svc = near.remoteRef<Msg, Replies>("svc/a");
    const boom = rejection(svc.ask({ type: "boom" }));
    const hang = rejection(svc.ask({ type: "hang" }));
    svc.tell({ type: "note", text: "original" });
    const home = rejection(svc.ask({ type: "echo", value: { $peerRef: "svc/a" } }));
    await clock.flush();
    expect((await boom).code).toBe("INVALID_MESSAGE");
    expect(await hang).toMatchObject({ code: "ACTOR_STOPPED", message: "late" });
    expect((await home).code).toBe("INVALID_MESSAGE");
    expect(notes).toEqual(["rewritten"]);
    // The quiet refusal is answered but not counted.
    expect(reasons).toEqual(["type", "payload"]);
    expect(far.rejected).toBe(2);
  });
});
