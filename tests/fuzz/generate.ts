// Seeded generators of hostile input for the fuzz suite: JSON values (deep, huge, wrongly typed,
// with `__proto__`), ids with every kind of bad character, mutations of valid request bodies,
// malformed raw HTTP/1.1 requests and WebSocket frames. The same seed gives the same inputs, so a
// failure names the seed and the case that reproduces it.

/** mulberry32: a small, fast, seeded PRNG (enough for test inputs, not for secrets). */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const NASTY_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "line\r\nInjected: header",
  "\ud800",
  "\udfff lone",
  "../../etc/passwd",
  "/etc/shadow",
  "file:///dev/zero",
  "%00",
  "%2e%2e%2f",
  "<script>alert(1)</script>",
  "'; DROP TABLE artifacts; --",
  "${jndi:ldap://x}",
  "\u202etxt.exe",
  "💥".repeat(50),
  "__proto__",
  "constructor",
  "x".repeat(300),
];

const NASTY_NUMBERS = [0, -0, -1, 1.5, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324];

/** An id as a hostile client might send it, in a path segment (already URL-encoded). */
export function fuzzId(rng: Rng): string {
  const raw = rng.chance(0.3) ? `id-${rng.int(1e6)}` : rng.pick(NASTY_STRINGS);
  try {
    return encodeURIComponent(raw) || "%20";
  } catch {
    return "%ED%A0%80"; // a lone surrogate, as its UTF-8-ish bytes
  }
}

/** Any JSON value, up to `depth` levels of containers. */
export function fuzzValue(rng: Rng, depth = 3): unknown {
  switch (rng.int(depth > 0 ? 9 : 6)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick(NASTY_NUMBERS);
    case 3:
      return rng.pick(NASTY_STRINGS);
    case 4:
      return `s${rng.int(1000)}`;
    case 5:
      return rng.int(100);
    case 6: {
      const out: unknown[] = [];
      for (let i = rng.int(4); i > 0; i--) out.push(fuzzValue(rng, depth - 1));
      return out;
    }
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) out[rng.chance(0.2) ? rng.pick(NASTY_STRINGS) : `k${rng.int(20)}`] = fuzzValue(rng, depth - 1);
      return out;
    }
  }
}

/** `[[[[...]]]]` or `{"a":{"a":...}}` nested `levels` deep, as text (JSON.stringify would recurse). */
export function deepJson(levels: number, kind: "array" | "object"): string {
  return kind === "array" ? "[".repeat(levels) + "]".repeat(levels) : '{"a":'.repeat(levels) + "1" + "}".repeat(levels);
}

/** A body for a route: a mutation of a valid one, a random value, or broken text. */
export function fuzzBody(rng: Rng, valid: Record<string, unknown> | undefined): string {
  const base = valid ?? {};
  switch (rng.int(8)) {
    case 0: {
      // Deep nesting, as the whole body or inside a field of a valid one (where handlers walk it).
      const deep = deepJson(rng.pick([200, 5_000, 20_000, 100_000]), rng.chance(0.5) ? "array" : "object");
      const objects = Object.keys(base).filter((k) => typeof base[k] === "object");
      const keys = objects.length > 0 && rng.chance(0.8) ? objects : Object.keys(base);
      if (keys.length === 0 || rng.chance(0.2)) return deep;
      return JSON.stringify({ ...base, [rng.pick(keys)]: "\u0000deep" }).replace('"\\u0000deep"', deep);
    }
    case 1: {
      const text = JSON.stringify(base);
      return text.slice(0, rng.int(text.length)); // truncated
    }
    case 2:
      return rng.pick(["", "null", "[]", "{}", "\"text\"", "1e999", "{\"a\":1,}", "\u0000", "{\"a\":\"\\ud800\"}", "NaN"]);
    case 3:
      return `{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},${JSON.stringify(base).slice(1)}`;
    case 4:
      return JSON.stringify({ ...base, [rng.pick(Object.keys(base).concat("extra"))]: "x".repeat(rng.int(300_000)) });
    case 5:
      return JSON.stringify(fuzzValue(rng, 4));
    default: {
      // One field of a valid body replaced by a hostile value.
      const keys = Object.keys(base);
      const key = keys.length > 0 && rng.chance(0.8) ? rng.pick(keys) : rng.pick(NASTY_STRINGS);
      return JSON.stringify({ ...base, [key]: fuzzValue(rng, 2) });
    }
  }
}

/** A raw HTTP/1.1 request that is malformed in one way or another (or oversized). */
export function fuzzRawRequest(rng: Rng, token: string): string {
  const auth = rng.chance(0.5) ? `Authorization: Bearer ${token}\r\n` : "";
  switch (rng.int(9)) {
    case 0:
      return `GET /health HTTP/1.1\r\nHost: x\r\n${"X-Big: " + "a".repeat(70_000)}\r\n\r\n`;
    case 1:
      return `POST /v2/tasks HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 999999999\r\n\r\n{"a":`;
    case 2:
      return `POST /v2/tasks HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\nZZZ\r\nbad\r\n0\r\n\r\n`;
    case 3:
      return `GET /v2/${"a/".repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`;
    case 4:
      return `GARBAGE\r\n\r\n`;
    case 5:
      return `GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n`;
    case 6:
      return `POST /v2/artifacts HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}`;
    case 7:
      return `GET /v2/tasks/${"%00"}x/events HTTP/1.1\r\nHost: x\r\n${auth}\r\n`;
    default:
      return `GET /health HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 300 }, (_, i) => `X-H${i}: v`).join("\r\n")}\r\n\r\n`;
  }
}

/** A frame for the client WebSocket (/v2/ws) or the node link: mostly near-valid, some garbage. */
export function fuzzFrame(rng: Rng, types: readonly string[], valid: Record<string, unknown>): string {
  switch (rng.int(6)) {
    case 0:
      return rng.pick(["", "{", "null", "[]", "\u0000", "{\"type\":1}", deepJson(5000, "array")]);
    case 1:
      return JSON.stringify({ ...valid, type: rng.pick(types), payload: fuzzValue(rng, 3) });
    case 2:
      return JSON.stringify(fuzzValue(rng, 3));
    default: {
      const out: Record<string, unknown> = { ...valid, type: rng.pick(types) };
      out[rng.pick(Object.keys(valid).concat(["task_id", "node_id", "__proto__"]))] = fuzzValue(rng, 2);
      return JSON.stringify(out);
    }
  }
}
