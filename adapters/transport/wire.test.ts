// Wire marshalling and envelope validation: plain data crosses, refs become markers, and whatever
// a real socket could not carry fails here with a WireError that names where it was.

import { describe, expect, test } from "bun:test";
import { ActorSystem, type ActorRef, type Message } from "../../runtime/index.ts";
import { ENVELOPE_VERSION, parseEnvelope } from "./envelope.ts";
import { WireError, fromWire, toWire, type RefMarker } from "./wire.ts";

const noRefs = (): RefMarker => {
  throw new Error("no ref expected");
};

describe("toWire", () => {
  test("plain JSON data passes unchanged", () => {
    const value = { s: "x", n: 1.5, b: false, z: null, list: [1, "two", { three: 3 }], nested: { deep: { ok: true } } };
    expect(toWire(value, noRefs)).toEqual(value);
  });

  test("undefined fields are dropped and undefined array items become null, as JSON does", () => {
    expect(toWire({ a: 1, b: undefined, c: [1, undefined, 3] }, noRefs)).toEqual({ a: 1, c: [1, null, 3] });
  });

  test("objects without a prototype are plain data", () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.k = "v";
    expect(toWire(bare, noRefs)).toEqual({ k: "v" });
  });

  test("refs become the marker the encoder chooses, wherever they sit", () => {
    const system = new ActorSystem({ name: "wire" });
    const ref = system.ref("svc/a");
    const seen: string[] = [];
    const encode = (r: ActorRef<Message, unknown>): RefMarker => {
      seen.push(r.path);
      return { $ref: r.path };
    };
    expect(toWire({ type: "hi", replyTo: ref, list: [ref] }, encode)).toEqual({
      type: "hi",
      replyTo: { $ref: "svc/a" },
      list: [{ $ref: "svc/a" }],
    });
    expect(seen).toEqual(["svc/a", "svc/a"]);
  });

  const refused: [string, unknown, RegExp][] = [
    ["a function", { a: { f: () => 1 } }, /a function at a\.f/],
    ["a class instance", { when: new Date(0) }, /an instance of Date at when/],
    ["a Map", { m: new Map() }, /an instance of Map at m/],
    ["NaN", { list: [1, Number.NaN] }, /non-finite number NaN at list\[1\]/],
    ["Infinity", { x: Number.POSITIVE_INFINITY }, /non-finite number Infinity at x/],
    ["a bigint", { big: 10n }, /a bigint at big/],
    ["a symbol", { s: Symbol("s") }, /a symbol at s/],
    ["a root-level function", () => 1, /<root>/],
  ];
  for (const [what, value, message] of refused) {
    test(`${what} throws a WireError naming its path`, () => {
      let thrown: unknown;
      try {
        toWire(value, noRefs);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(WireError);
      expect((thrown as Error).message).toMatch(message);
    });
  }
});

describe("fromWire", () => {
  const decode = (m: RefMarker) => ("$ref" in m ? `remote:${m.$ref}` : `local:${m.$peerRef}`);

  test("markers are decoded, nested in objects and arrays", () => {
    const wire = { type: "t", a: { $ref: "x/1" }, list: [{ $peerRef: "y/2" }, 3] };
    expect(fromWire(wire, decode)).toEqual({ type: "t", a: "remote:x/1", list: ["local:y/2", 3] });
  });

  test("look-alikes are left as data: extra keys or a non-string target", () => {
    const wire = { a: { $ref: "x", extra: 1 }, b: { $ref: 7 }, c: { $peerRef: null } };
    expect(fromWire(wire, decode)).toEqual(wire);
  });

  test("round trip of plain data is the identity", () => {
    const value = { type: "t", xs: [1, [2, [3]]], o: { p: "q" }, n: null };
    expect(fromWire(JSON.parse(JSON.stringify(toWire(value, noRefs))), decode)).toEqual(value);
  });
});

describe("parseEnvelope", () => {
  const good = { v: ENVELOPE_VERSION as 1, id: "e1", to: "svc/a", type: "ping", payload: { type: "ping" } };

  test("a valid envelope parses, with optional fields kept", () => {
    const parsed = parseEnvelope(JSON.stringify({ ...good, ask: true, deadline: 1234, from: "me" }));
    expect(parsed).toEqual({ ok: true, envelope: { ...good, ask: true, deadline: 1234, from: "me" } });
  });

  test("text that is not JSON is refused", () => {
    expect(parseEnvelope("{nope")).toEqual({ ok: false, error: "envelope is not valid JSON" });
  });

  const bad: [string, unknown][] = [
    ["another version", { ...good, v: 2 }],
    ["an empty id", { ...good, id: "" }],
    ["no target", { ...good, to: undefined }],
    ["no type", { ...good, type: undefined }],
    ["a deadline that is not a number", { ...good, deadline: "soon" }],
    ["an array", [good]],
  ];
  for (const [what, raw] of bad) {
    test(`an envelope with ${what} is refused`, () => {
      const parsed = parseEnvelope(JSON.stringify(raw));
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error).toStartWith("invalid envelope:");
    });
  }
});
