// Marshalling of message payloads. Plain JSON data passes; refs become {$ref} markers; anything
// that could not survive a real wire (functions, class instances, NaN, bigint, symbols) throws,
// so such a message fails in in-memory tests exactly as it would across processes.

import { isActorRef, type ActorRef, type Message } from "../../runtime/index.ts";

export class WireError extends Error {
  constructor(path: string, what: string) {
    super(`cannot send ${what} at ${path || "<root>"} across a transport`);
    this.name = "WireError";
  }
}

/** `{$ref}`: a path on the sender's side. `{$peerRef}`: a path on the receiver's side. */
export type RefMarker = { $ref: string } | { $peerRef: string };

export function toWire(value: unknown, encodeRef: (ref: ActorRef<Message, unknown>) => RefMarker, path = ""): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new WireError(path, `non-finite number ${value}`);
      return value;
    case "undefined":
      return undefined;
    case "object": {
      if (value === null) return null;
      if (Array.isArray(value)) return value.map((v, i) => toWire(v, encodeRef, `${path}[${i}]`) ?? null);
      if (isActorRef(value)) return encodeRef(value);
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new WireError(path, `an instance of ${value.constructor?.name ?? "unknown class"}`);
      }
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const w = toWire(v, encodeRef, path ? `${path}.${k}` : k);
        if (w !== undefined) out[k] = w;
      }
      return out;
    }
    default:
      throw new WireError(path, `a ${typeof value}`);
  }
}

export function fromWire(value: unknown, decodeRef: (marker: RefMarker) => unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => fromWire(v, decodeRef));
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === "$ref" || keys[0] === "$peerRef")) {
      const target = (value as Record<string, unknown>)[keys[0]];
      if (typeof target === "string") return decodeRef(value as RefMarker);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromWire(v, decodeRef);
    return out;
  }
  return value;
}
