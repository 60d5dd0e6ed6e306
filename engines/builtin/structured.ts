// Structured output and tool calls for the built-in engine (docs/api.md#tools-and-structured-output):
// grammars from JSON Schemas (node-llama-cpp's JSON-schema grammar; its JSON grammar for
// json_object), the grammar that forces a tool call (`{"name": …, "arguments": …}` with the tool's
// parameters schema), and reading a call back from the text: the forced JSON, or, under
// tool_choice `auto`, the chat wrapper's own function-call syntax (prefix, name, params, suffix).

import { randomBytes } from "node:crypto";
import { LlamaText, type ChatWrapper, type LlamaGrammar, type LlamaModel } from "node-llama-cpp";
import { RequestError, type HistoryCall, type OutputFormat, type ToolChoiceSpec, type ToolSpec } from "./params.ts";

type Json = Record<string, unknown>;

/** Keywords node-llama-cpp's grammar reads; the rest (titles, $schema, defaults, …) are dropped. */
const KEEP = new Set(["type", "properties", "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "enum", "const", "oneOf", "$defs", "$ref", "description", "minLength", "maxLength", "format", "minProperties", "maxProperties"]);
const FORMATS = new Set(["date-time", "time", "date"]);

/** A JSON Schema as node-llama-cpp's grammar takes it: anyOf is oneOf, unknown keywords go. */
export function grammarSchema(schema: unknown, depth = 0): Json {
  if (depth > 32) throw new RequestError(400, "the JSON schema nests too deeply");
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return {};
  const s = schema as Json;
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    const key = k === "anyOf" ? "oneOf" : k === "definitions" ? "$defs" : k;
    if (!KEEP.has(key)) continue;
    if (key === "format" && !FORMATS.has(v as string)) continue;
    if (key === "properties" || key === "$defs") out[key] = Object.fromEntries(Object.entries((v ?? {}) as Json).map(([p, sub]) => [p, grammarSchema(sub, depth + 1)]));
    else if (key === "oneOf" || key === "prefixItems") out[key] = Array.isArray(v) ? v.map((sub) => grammarSchema(sub, depth + 1)) : v;
    else if ((key === "items" || key === "additionalProperties") && typeof v === "object" && v !== null) out[key] = grammarSchema(v, depth + 1);
    else if (key === "$ref" && typeof v === "string") out[key] = v.replace("#/definitions/", "#/$defs/");
    else out[key] = v;
  }
  // An object schema with no properties means any object.
  if (out.type === "object" && out.properties === undefined && out.additionalProperties === undefined) out.additionalProperties = true;
  return out;
}

async function schemaGrammar(model: LlamaModel, schema: Json): Promise<LlamaGrammar> {
  try {
    return await model.llama.createGrammarForJsonSchema(grammarSchema(schema) as any);
  } catch (error) {
    throw new RequestError(400, `the JSON schema cannot be turned into a grammar: ${(error as Error).message}`);
  }
}

/** The grammar of a response format. */
export async function formatGrammar(model: LlamaModel, format: OutputFormat): Promise<LlamaGrammar> {
  if (format.kind === "json") return schemaGrammar(model, { type: "object", additionalProperties: true });
  return schemaGrammar(model, format.schema);
}

function callSchema(tool: ToolSpec): Json {
  return {
    type: "object",
    properties: { name: { const: tool.name }, arguments: tool.parameters ?? { type: "object", properties: {} } },
  };
}

/** The grammar that forces one call: of the named tool, or of any tool (`required`). */
export function toolCallGrammar(model: LlamaModel, tools: ToolSpec[], choice: ToolChoiceSpec): Promise<LlamaGrammar> {
  const chosen = typeof choice === "object" ? tools.filter((t) => t.name === choice.name) : tools;
  return schemaGrammar(model, chosen.length === 1 ? callSchema(chosen[0]!) : { oneOf: chosen.map(callSchema) });
}

export function callId(): string {
  return `call_${randomBytes(12).toString("hex")}`;
}

/** The forced call's JSON (`{"name", "arguments"}`) as a call; undefined when it is not one. */
export function parseForcedCall(text: string, tools: ToolSpec[]): HistoryCall | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const v = value as { name?: unknown; arguments?: unknown };
  if (typeof v?.name !== "string" || !tools.some((t) => t.name === v.name)) return undefined;
  return { id: callId(), name: v.name, arguments: JSON.stringify(v.arguments ?? {}) };
}

const plain = (t: string | LlamaText) => LlamaText(t).toString();

/** The end of the JSON value that starts `text`, or -1. */
function jsonEnd(text: string): number {
  let depth = 0;
  let inString = false;
  for (let k = 0; k < text.length; k++) {
    const c = text[k]!;
    if (inString) {
      if (c === "\\") k++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      if (--depth === 0) return k + 1;
    }
  }
  return -1;
}

/** Under `auto`: the model's text as a call in its chat wrapper's syntax, when it is one. */
export function parseWrapperCall(text: string, wrapper: ChatWrapper, tools: ToolSpec[]): HistoryCall | undefined {
  const call = wrapper.settings.functions.call;
  const body = text.trimStart();
  const prefix = plain(call.prefix);
  const rest = body.startsWith(prefix) ? body.slice(prefix.length) : call.optionalPrefixSpace && body.startsWith(prefix.trimStart()) ? body.slice(prefix.trimStart().length) : undefined;
  if (rest === undefined || prefix === "") return undefined;
  const paramsPrefix = plain(call.paramsPrefix);
  for (const tool of tools) {
    const head = paramsPrefix.includes("{{functionName}}") ? paramsPrefix.replaceAll("{{functionName}}", tool.name) : tool.name + paramsPrefix;
    if (!rest.startsWith(head)) continue;
    const params = rest.slice(head.length).trimStart();
    const end = jsonEnd(params);
    if (end < 0) return undefined;
    try {
      return { id: callId(), name: tool.name, arguments: JSON.stringify(JSON.parse(params.slice(0, end))) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Sees the text of a JSON-constrained generation as it comes and says when the top-level object
 * or array has closed: the grammar would allow trailing whitespace until max_tokens, so the
 * generation stops there instead. Constant work per character.
 */
export class JsonEnd {
  #depth = 0;
  #inString = false;
  #escaped = false;
  #opened = false;

  /** True once the value that `text` continues is complete. */
  push(text: string): boolean {
    for (let k = 0; k < text.length; k++) {
      const c = text[k]!;
      if (this.#inString) {
        if (this.#escaped) this.#escaped = false;
        else if (c === "\\") this.#escaped = true;
        else if (c === '"') this.#inString = false;
      } else if (c === '"') this.#inString = true;
      else if (c === "{" || c === "[") {
        this.#depth++;
        this.#opened = true;
      } else if (c === "}" || c === "]") {
        if (--this.#depth === 0 && this.#opened) return true;
      }
    }
    return false;
  }
}
