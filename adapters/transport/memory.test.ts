// In-memory links behave like a socket: every envelope is serialized and validated, delivery is
// asynchronous and in order, and a close reaches the far end after what was already in flight.

import { describe, expect, test } from "bun:test";
import { flushMicrotasks } from "../../runtime/index.ts";
import type { Envelope } from "./envelope.ts";
import { MAX_BATCH_ENVELOPES } from "./link.ts";
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

  test("envelopes sent in one turn travel as one frame, in order; one alone is a plain object", async () => {
    const [a, b] = memoryLinkPair();
    const frames: string[] = [];
    const deliver = (b as unknown as { deliver(text: string): void }).deliver.bind(b);
    (b as unknown as { deliver(text: string): void }).deliver = (text) => {
      frames.push(text);
      deliver(text);
    };
    const atB = collect(b);
    for (let i = 0; i < 5; i++) a.send(env(String(i)));
    await flushMicrotasks();
    a.send(env("alone"));
    await flushMicrotasks();
    expect(atB.map((e) => e.id)).toEqual(["0", "1", "2", "3", "4", "alone"]);
    expect(frames.length).toBe(2);
    expect(frames[0]!.startsWith("[")).toBe(true);
    expect(JSON.parse(frames[1]!).id).toBe("alone");
    expect([a.framesSent, a.envelopesSent]).toEqual([2, 6]);
    a.close();
  });

  test("a batch is cut at MAX_BATCH_ENVELOPES; a received batch over it, or not an array of objects, is refused", async () => {
    const [a, b] = memoryLinkPair();
    const atB = collect(b);
    for (let i = 0; i < MAX_BATCH_ENVELOPES + 3; i++) a.send(env(String(i)));
    await flushMicrotasks();
    expect(atB.length).toBe(MAX_BATCH_ENVELOPES + 3);
    expect(atB.at(-1)!.id).toBe(String(MAX_BATCH_ENVELOPES + 2));
    expect(a.framesSent).toBe(2);
    const receive = (text: string) => (b as unknown as { receiveText(t: string): void }).receiveText(text);
    const one = JSON.stringify(env("x"));
    receive(`[${Array(MAX_BATCH_ENVELOPES + 1).fill(one).join(",")}]`);
    receive("[]");
    receive("[1,2");
    receive(`[${one},{"v":1}]`); // one good, one bad
    expect(b.invalidFrames).toBe(4);
    expect(atB.length).toBe(MAX_BATCH_ENVELOPES + 4);
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
