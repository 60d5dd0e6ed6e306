// Shared request-body handling for the routes: JSON only, at most MAX_JSON_DEPTH levels deep, one
// zod parse, and the contract's INVALID_PARAMS message naming the offending field. The size limit
// is applied before this reads a byte (control-app's bodyLimit: Content-Length, then while streaming).

import type { Context } from "hono";
import type { z } from "zod";
import { jsonTooDeep, MAX_JSON_DEPTH } from "../../../contract/index.ts";

export type BodyOutcome<T> = { ok: true; value: T } | { ok: false; message: string };

/** Reads an application/json body and validates it with `schema`. */
export function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<BodyOutcome<z.infer<S>>> {
  return read(c, schema, false);
}

/** Like readBody, but an empty body (of any Content-Type) reads as `{}`. */
export function readOptionalBody<S extends z.ZodType>(c: Context, schema: S): Promise<BodyOutcome<z.infer<S>>> {
  return read(c, schema, true);
}

async function read<S extends z.ZodType>(c: Context, schema: S, optional: boolean): Promise<BodyOutcome<z.infer<S>>> {
  const type = c.req.header("content-type") ?? "";
  const text = await c.req.text();
  if (optional && text.trim() === "") return validate(schema, {});
  if (!type.toLowerCase().includes("application/json")) return { ok: false, message: "Content-Type must be application/json" };
  // Before parsing: a deep document would overflow the stack of whatever walks it next.
  if (jsonTooDeep(text)) return { ok: false, message: `body nests deeper than ${MAX_JSON_DEPTH} levels` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, message: "body is not valid JSON" };
  }
  return validate(schema, raw);
}

function validate<S extends z.ZodType>(schema: S, raw: unknown): BodyOutcome<z.infer<S>> {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.join(".") || "body";
  return { ok: false, message: `${where}: ${issue?.message ?? "invalid"}` };
}
