// Reading an OpenAI request body, for every /v1 route: JSON whatever the Content-Type
// says (curl users often omit it), bounded nesting, and the first zod issue named as `param`.

import type { Context } from "hono";
import type { z } from "zod";
import { jsonTooDeep, MAX_JSON_DEPTH } from "../../../contract/index.ts";
import { openAiError, type OpenAiErrorReply } from "./errors.ts";

export type Read<T> = { ok: true; value: T } | { ok: false; reply: OpenAiErrorReply };

export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<Read<z.infer<S>>> {
  let raw: unknown;
  try {
    const text = await c.req.text();
    if (jsonTooDeep(text)) return { ok: false, reply: openAiError(400, "invalid_params", `the request body nests deeper than ${MAX_JSON_DEPTH} levels`) };
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reply: openAiError(400, "invalid_json", "the request body is not valid JSON") };
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issue = parsed.error.issues[0];
  const param = issue?.path.join(".") || null;
  return { ok: false, reply: openAiError(400, "invalid_params", `${param ?? "body"}: ${issue?.message ?? "invalid"}`, param) };
}

/** A feature this server does not offer: 400 naming the parameter, never silently ignored. */
export function unsupported(param: string, what: string): OpenAiErrorReply {
  return openAiError(400, "unsupported_parameter", `${param}: ${what}`, param);
}
