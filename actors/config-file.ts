// Config files of both processes: YAML or JSON (JSON is valid YAML) checked against a strict zod
// schema, with errors an operator can act on (`path: message`, one per line).

import type { z } from "zod";

/** Formats a zod error as `path: message` lines, the way operators read config errors. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const path = i.path.join(".") || "<root>";
      const keys = "keys" in i && Array.isArray(i.keys) ? ` (${i.keys.join(", ")})` : "";
      return `${path}: ${i.message}${keys}`;
    })
    .join("\n");
}

/** Parses a YAML or JSON config text (JSON is valid YAML) against a strict schema. */
export function parseConfigText<S extends z.ZodType>(schema: S, text: string, source: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = Bun.YAML.parse(text);
  } catch (error) {
    throw new ConfigError(`${source}: not valid YAML/JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(`${source}: invalid configuration\n${formatIssues(parsed.error)}`);
  return parsed.data;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
