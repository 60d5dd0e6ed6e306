// Canonical JSON and the content address of an artifact (contract item 13): keys sorted
// recursively, no whitespace, so anyone can recompute an id from the document they sent.

import { createHash } from "node:crypto";

/** JSON text with object keys sorted at every depth; `undefined` members are left out as JSON does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`cannot encode ${typeof value} as JSON`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  const keys = Object.keys(value).sort();
  const members: string[] = [];
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) members.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${members.join(",")}}`;
}

/** Lowercase hex SHA-256 of the canonical JSON: the artifact's id. */
export function artifactId(document: unknown): string {
  return createHash("sha256").update(canonicalJson(document)).digest("hex");
}
