// Canonical JSON and the content address of an artifact (docs/contract.md#artifacts): keys sorted
// recursively, no whitespace, so anyone can recompute an id from the document they sent.

import { createHash } from "node:crypto";
import { MAX_JSON_DEPTH } from "../../../contract/index.ts";

/** Thrown for a document nested deeper than MAX_JSON_DEPTH: the encoder recurses once per level. */
export class JsonTooDeepError extends RangeError {
  constructor() {
    super(`document nests deeper than ${MAX_JSON_DEPTH} levels`);
    this.name = "JsonTooDeepError";
  }
}

/**
 * JSON text with object keys sorted at every depth; `undefined` members are left out as JSON does.
 * Throws JsonTooDeepError past MAX_JSON_DEPTH levels. `__proto__` is an ordinary key here.
 */
export function canonicalJson(value: unknown): string {
  const text = encode(value);
  if (text === undefined) throw new TypeError(`cannot encode ${typeof value} as JSON`);
  return text;
}

/** Undefined for what JSON leaves out (undefined, functions, symbols). Loops, not map/join: transcripts hold thousands of entries. */
function encode(value: unknown, depth = 0): string | undefined {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (depth >= MAX_JSON_DEPTH) throw new JsonTooDeepError();
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ",";
      out += encode(value[i], depth + 1) ?? "null";
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length > 1) keys.sort();
  let out = "{";
  let first = true;
  for (const k of keys) {
    const v = encode(record[k], depth + 1);
    if (v === undefined) continue;
    out += `${first ? "" : ","}${JSON.stringify(k)}:${v}`;
    first = false;
  }
  return `${out}}`;
}

/** Lowercase hex SHA-256 of the canonical JSON: the artifact's id. */
export function artifactId(document: unknown): string {
  return createHash("sha256").update(canonicalJson(document)).digest("hex");
}
