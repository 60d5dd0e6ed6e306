// Bearer-token auth: header parsing, token comparison, fp6 identities and the loopback rule
// that AUTH_OPTIONAL relies on.

import { createHash } from "node:crypto";
import { describe, expect, test } from "bun:test";
import { authEnabled, authorize, identifyToken, isLoopbackHost, parseBearer, tokenFp6, tokensEqual, type KeyLookup } from "./auth.ts";

const TOKEN = "s3cret-token-0123456789";

describe("parseBearer", () => {
  test("takes the token after 'Bearer ', trimming whitespace", () => {
    expect(parseBearer(`Bearer ${TOKEN}`)).toEqual({ ok: true, token: TOKEN });
    expect(parseBearer(`  Bearer   ${TOKEN}  `)).toEqual({ ok: true, token: TOKEN });
  });

  test("the scheme is case-insensitive", () => {
    for (const scheme of ["bearer", "BEARER", "bEaReR"]) expect(parseBearer(`${scheme} ${TOKEN}`)).toEqual({ ok: true, token: TOKEN });
    expect(parseBearer(`bearer\t${TOKEN}`)).toEqual({ ok: true, token: TOKEN });
  });

  const refused: [string, string | null | undefined][] = [
    ["no header", undefined],
    ["a null header", null],
    ["an empty header", ""],
    ["another scheme", `Basic ${TOKEN}`],
    ["a scheme glued to the token", `Bearer${TOKEN}`],
    ["a longer scheme name", `Bearerx ${TOKEN}`],
    ["no token", "Bearer "],
    ["a control character in the token", "Bearer abc\u0001def"],
    ["a DEL in the token", "Bearer abc\u007fdef"],
    ["an oversized header", `Bearer ${"x".repeat(9000)}`],
  ];
  for (const [what, header] of refused) {
    test(`refuses ${what}`, () => {
      expect(parseBearer(header)).toEqual({ ok: false });
    });
  }
});

describe("tokensEqual and tokenFp6", () => {
  test("equal only for identical tokens", () => {
    expect(tokensEqual(TOKEN, TOKEN)).toBe(true);
    expect(tokensEqual(TOKEN, `${TOKEN}x`)).toBe(false);
    expect(tokensEqual(TOKEN, TOKEN.slice(0, -1))).toBe(false);
    expect(tokensEqual(TOKEN, TOKEN.toUpperCase())).toBe(false);
    expect(tokensEqual("", "")).toBe(true);
  });

  test("fp6 is the first six hex chars of SHA-256", () => {
    const expected = createHash("sha256").update(TOKEN).digest("hex").slice(0, 6);
    expect(tokenFp6(TOKEN)).toBe(expected);
    expect(tokenFp6(TOKEN)).toMatch(/^[0-9a-f]{6}$/);
    expect(tokenFp6("other")).not.toBe(tokenFp6(TOKEN));
  });
});

describe("isLoopbackHost", () => {
  const loopback = [
    "127.0.0.1",
    "127.255.10.2",
    "127.0.0.1:8080",
    "::1",
    "[::1]",
    "[::1]:9000",
    "::ffff:127.0.0.1",
    "[::ffff:127.1.2.3]:80",
    "localhost",
    "LOCALHOST",
    "localhost:3000",
  ];
  for (const host of loopback) {
    test(`${host} is loopback`, () => expect(isLoopbackHost(host)).toBe(true));
  }

  const remote = [
    "",
    "0.0.0.0",
    "128.0.0.1",
    "10.0.0.1",
    "::",
    "::2",
    "::ffff:10.0.0.1",
    "127.0.0.1.evil.example",
    "localhost.evil.example",
    "evil-localhost",
    "192.168.1.127",
    "x".repeat(300),
  ];
  for (const host of remote) {
    test(`${JSON.stringify(host.slice(0, 30))} is not loopback`, () => expect(isLoopbackHost(host)).toBe(false));
  }
});

describe("authorize", () => {
  test("with auth off, everyone is localhost", () => {
    expect(authorize(undefined, undefined)).toEqual({ ok: true, identity: "localhost" });
    expect(authorize("Bearer whatever", undefined)).toEqual({ ok: true, identity: "localhost" });
  });

  test("the right token is accepted, identified by its fp6 only", () => {
    const outcome = authorize(`Bearer ${TOKEN}`, TOKEN);
    expect(outcome).toEqual({ ok: true, identity: `token:${tokenFp6(TOKEN)}` });
    expect(JSON.stringify(outcome)).not.toContain(TOKEN);
  });

  test("a missing or malformed header is MISSING_TOKEN", () => {
    expect(authorize(undefined, TOKEN)).toEqual({ ok: false, code: "MISSING_TOKEN", identity: "anonymous" });
    expect(authorize(`Basic ${TOKEN}`, TOKEN)).toEqual({ ok: false, code: "MISSING_TOKEN", identity: "anonymous" });
  });

  test("a wrong token is BAD_TOKEN, identified by the fp6 of what was sent", () => {
    const outcome = authorize("Bearer wrong-token-value", TOKEN);
    expect(outcome).toEqual({ ok: false, code: "BAD_TOKEN", identity: `token:${tokenFp6("wrong-token-value")}` });
    expect(JSON.stringify(outcome)).not.toContain(TOKEN);
  });

  test("AUTH_OPTIONAL lets loopback peers in without a token, and only them", () => {
    expect(authorize(undefined, TOKEN, { optional: true, remoteLoopback: true })).toEqual({ ok: true, identity: "localhost" });
    expect(authorize(undefined, TOKEN, { optional: true, remoteLoopback: false })).toMatchObject({ ok: false, code: "MISSING_TOKEN" });
    expect(authorize("Bearer nope", TOKEN, { optional: true, remoteLoopback: false })).toMatchObject({ ok: false, code: "BAD_TOKEN" });
    expect(authorize(`Bearer ${TOKEN}`, TOKEN, { optional: true, remoteLoopback: false }).ok).toBe(true);
  });

  test("without AUTH_OPTIONAL, loopback peers still need the token", () => {
    expect(authorize(undefined, TOKEN, { remoteLoopback: true })).toMatchObject({ ok: false, code: "MISSING_TOKEN" });
  });
});

describe("authorize with named client keys", () => {
  const KEY_A = "alice-key-0123456789abcdef";
  const keys: KeyLookup = { lookup: (t) => (t === KEY_A ? { name: "alice" } : undefined) };
  const empty: KeyLookup = { lookup: () => undefined };

  test("a named key is identified by its name only", () => {
    const outcome = authorize(`bearer ${KEY_A}`, { keys });
    expect(outcome).toEqual({ ok: true, identity: "key:alice" });
    expect(JSON.stringify(outcome)).not.toContain(KEY_A);
  });

  test("the legacy token keeps its fp6 identity beside the keys", () => {
    expect(authorize(`Bearer ${TOKEN}`, { token: TOKEN, keys })).toEqual({ ok: true, identity: `token:${tokenFp6(TOKEN)}` });
    expect(authorize(`Bearer ${KEY_A}`, { token: TOKEN, keys })).toEqual({ ok: true, identity: "key:alice" });
    expect(authorize("Bearer neither-token-nor-key", { token: TOKEN, keys })).toEqual({ ok: false, code: "BAD_TOKEN", identity: `token:${tokenFp6("neither-token-nor-key")}` });
  });

  test("keys configured but all revoked still mean auth is on: everyone is refused", () => {
    expect(authEnabled({ keys: empty })).toBe(true);
    expect(authEnabled({})).toBe(false);
    expect(authEnabled(undefined)).toBe(false);
    expect(authorize(`Bearer ${KEY_A}`, { keys: empty })).toMatchObject({ ok: false, code: "BAD_TOKEN" });
    expect(authorize(undefined, { keys: empty })).toMatchObject({ ok: false, code: "MISSING_TOKEN" });
  });

  test("identifyToken answers the identity of a frame-borne token (WebSocket first-message auth)", () => {
    expect(identifyToken(KEY_A, { token: TOKEN, keys })).toEqual({ ok: true, identity: "key:alice" });
    expect(identifyToken(TOKEN, TOKEN)).toEqual({ ok: true, identity: `token:${tokenFp6(TOKEN)}` });
    expect(identifyToken("nope-nope-nope-nope", { keys })).toEqual({ ok: false, identity: `token:${tokenFp6("nope-nope-nope-nope")}` });
  });
});
