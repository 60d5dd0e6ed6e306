// Marshalling of message payloads. Plain JSON data passes; refs become {$ref} markers; anything
// that could not survive a real wire (functions, class instances, NaN, bigint, symbols) throws,
// so such a message fails in in-memory tests exactly as it would across processes.

import { isActorRef, type ActorRef, type Message } from "../../runtime/index.ts";

export class WireError extends Error {
  constructor(
    readonly path: string,
    readonly what: string,
  ) {
    super(`cannot send ${what} at ${path || "<root>"} across a transport`);
    this.name = "WireError";
  }

  /** The same error one level further out (paths are built only when something fails). */
  within(key: string | number): WireError {
    const path = typeof key === "number" ? `[${key}]${this.path}` : this.path ? (this.path.startsWith("[") ? `${key}${this.path}` : `${key}.${this.path}`) : key;
    return new WireError(path, this.what);
  }
}

/** `{$ref}`: a path on the sender's side. `{$peerRef}`: a path on the receiver's side. */
export type RefMarker = { $ref: string } | { $peerRef: string };

/**
 * Hot path: every message of every stream goes through here. Loops instead of entries/map, and
 * no path strings unless something fails.
 */
export function toWire(value: unknown, encodeRef: (ref: ActorRef<Message, unknown>) => RefMarker, path = ""): unknown {
  try {
    return encode(value, encodeRef);
  } catch (e) {
    if (e instanceof WireError && path) throw new WireError(e.path ? `${path}.${e.path}` : path, e.what);
    throw e;
  }
}

function encode(value: unknown, encodeRef: (ref: ActorRef<Message, unknown>) => RefMarker): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new WireError("", `non-finite number ${value}`);
      return value;
    case "undefined":
      return undefined;
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          try {
            out[i] = encode(value[i], encodeRef) ?? null;
          } catch (e) {
            throw e instanceof WireError ? e.within(i) : e;
          }
        }
        return out;
      }
      if (isActorRef(value)) return encodeRef(value);
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new WireError("", `an instance of ${value.constructor?.name ?? "unknown class"}`);
      }
      const out: Record<string, unknown> = {};
      const record = value as Record<string, unknown>;
      for (const k in record) {
        if (!Object.hasOwn(record, k)) continue;
        let w: unknown;
        try {
          w = encode(record[k], encodeRef);
        } catch (e) {
          throw e instanceof WireError ? e.within(k) : e;
        }
        if (w !== undefined) out[k] = w;
      }
      return out;
    }
    default:
      throw new WireError("", `a ${typeof value}`);
  }
}

export function fromWire(value: unknown, decodeRef: (marker: RefMarker) => unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = fromWire(value[i], decodeRef);
    return out;
  }
  const record = value as Record<string, unknown>;
  let only: string | undefined;
  let count = 0;
  for (const k in record) {
    only = k;
    if (++count > 1) break;
  }
  if (count === 1 && (only === "$ref" || only === "$peerRef") && typeof record[only] === "string") return decodeRef(value as RefMarker);
  const out: Record<string, unknown> = {};
  for (const k in record) out[k] = fromWire(record[k], decodeRef);
  return out;
}
