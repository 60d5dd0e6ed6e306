// Config files of both processes: YAML or JSON (JSON is valid YAML) checked against a strict zod
// schema, with errors an operator can act on: `file:line:column: message` for a syntax error, and
// `file:line:column: path: message` for a schema error, at the offending key or value (one per
// line). The `yaml` package parses: it keeps every node's position, which Bun.YAML does not.

import { isMap, isNode, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import type { z } from "zod";

/** Aliases a document may expand (a "billion laughs" file is refused, not expanded). */
const MAX_ALIAS_COUNT = 100;

/** Formats a zod error as `path: message` lines, the way operators read config errors. */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map(issueText).join("\n");
}

function issueText(i: z.core.$ZodIssue): string {
  const path = i.path.join(".") || "<root>";
  const keys = "keys" in i && Array.isArray(i.keys) ? ` (${i.keys.join(", ")})` : "";
  return `${path}: ${i.message}${keys}`;
}

/** Where the issue is: its node, or for unknown keys the first such key, or the nearest parent present. */
function issueOffset(doc: Document, i: z.core.$ZodIssue): number | undefined {
  const path = i.path.filter((p): p is string | number => typeof p !== "symbol");
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (!isNode(node) || !node.range) continue;
    const unknown = "keys" in i && Array.isArray(i.keys) && n === path.length ? i.keys[0] : undefined;
    if (unknown !== undefined && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === unknown);
      if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
    }
    return node.range[0];
  }
  return undefined;
}

/** Parses a YAML or JSON config text (JSON is valid YAML) against a strict schema. */
export function parseConfigText<S extends z.ZodType>(schema: S, text: string, source: string): z.infer<S> {
  const lines = new LineCounter();
  const at = (offset: number | undefined) => {
    if (offset === undefined) return source;
    const { line, col } = lines.linePos(offset);
    return `${source}:${line}:${col}`;
  };
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const message = syntax.code === "MULTIPLE_DOCS" ? "a config file holds one document (a second '---' starts another)" : syntax.message;
    throw new ConfigError(`${at(syntax.pos[0])}: not valid YAML/JSON: ${message}`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    // An alias to no anchor, or more alias expansions than allowed.
    throw new ConfigError(`${source}: not valid YAML/JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${at(issueOffset(doc, i))}: ${issueText(i)}`);
    throw new ConfigError(issues.length === 1 ? issues[0]! : `${source}: invalid configuration\n${issues.join("\n")}`);
  }
  return parsed.data;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
