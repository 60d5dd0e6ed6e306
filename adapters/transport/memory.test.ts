// In-memory links behave like a socket: every envelope is serialized and validated, delivery is
// asynchronous and in order, and a close reaches the far end after what was already in flight.

import { describe, expect, test } from "bun:test";
import { flushMicrotasks } from "../../runtime/index.ts";
import type { Envelope } from "./envelope.ts";
import { memoryLinkPair } from "./memory.ts";

function env(id: string, payload: unknown = { type: "t" }): Envelope {
  return { v: 1, id, to: "svc/a", type: "t", payload };
}

function collect(link: { onEnvelope(h: (e: Envelope) => void): void }): Envelope[] {
  const got: Envelope[] = [];
  link.onEnvelope((e) => got.push(e));
  return got;
}

describe("memoryLinkPair", () => {
  test("delivers asynchronously, in order, both ways", async () => {
    const [a, b] = memoryLinkPair();
    const atB = collect(b);
    const atA = collect(a);
    expect(a.send(env("1"))).toBe(true);
    expect(a.send(env("2"))).toBe(true);
    expect(b.send(env("x"))).toBe(true);
    // Nothing arrives within the sender's own turn.
    expect(atB).toEqual([]);
    await flushMicrotasks();
    expect(atB.map((e) => e.id)).toEqual(["1", "2"]);
    expect(atA.map((e) => e.id)).toEqual(["x"]);
    a.close();
  });

  test("the receiver gets a serialized copy, never the sender's object", async () => {
    const [a, b] = memoryLinkPair();
    const atB = collect(b);
    const payload = { type: "t", when: new Date(0), skip: undefined, list: [1] };
    a.send(env("1", payload));
    payload.list.push(2); // mutating after send must not show on the far side
    await flushMicrotasks();
    expect(atB[0]!.payload).toEqual({ type: "t", when: "1970-01-01T00:00:00.000Z", list: [1] });
    expect(atB[0]!.payload).not.toBe(payload);
    expect(a.bytesSent).toBeGreaterThan(0);
    a.close();
  });

  test("an envelope that fails validation is dropped and counted, later ones still arrive", async () => {
    const [a, b] = memoryLinkPair();
    const atB = collect(b);
    a.send({ ...env("bad"), v: 2 } as unknown as Envelope);
    a.send({ ...env("bad2"), id: "" });
    a.send(env("good"));
    await flushMicrotasks();
    expect(atB.map((e) => e.id)).toEqual(["good"]);
    expect(b.invalidFrames).toBe(2);
    a.close();
  });

  test("close reaches the far end after envelopes already in flight", async () => {
    const [a, b] = memoryLinkPair();
    const order: string[] = [];
    b.onEnvelope((e) => order.push(`env:${e.id}`));
    b.onClose((reason) => order.push(`close:${reason}`));
    a.send(env("1"));
    a.close("bye");
    expect(a.open).toBe(false);
    expect(b.open).toBe(true);
    await flushMicrotasks();
    expect(order).toEqual(["env:1", "close:peer closed: bye"]);
    expect(b.open).toBe(false);
  });

  test("a closed link refuses to send, in either direction", async () => {
    const [a, b] = memoryLinkPair();
    const atA = collect(a);
    a.close();
    expect(a.send(env("1"))).toBe(false);
    await flushMicrotasks();
    expect(b.send(env("2"))).toBe(false);
    await flushMicrotasks();
    expect(atA).toEqual([]);
  });

  test("close handlers run once; one registered after the close runs at once", async () => {
    const [a, b] = memoryLinkPair();
    const reasons: string[] = [];
    a.onClose((r) => reasons.push(r));
    a.close("first");
    a.close("second");
    await flushMicrotasks();
    expect(reasons).toEqual(["first"]);
    a.onClose((r) => reasons.push(`late:${r}`));
    expect(reasons).toEqual(["first", "late:already closed"]);
    expect(b.open).toBe(false);
  });

  test("each link has its own id", () => {
    const [a, b] = memoryLinkPair();
    expect(a.id).not.toBe(b.id);
    expect(a.id).toStartWith("mem-");
    a.close();
  });
});
