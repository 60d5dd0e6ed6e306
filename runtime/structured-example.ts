// Deterministic structured answers for the mock engines (the in-process mock and the mock-server
// program, which may share only this layer): a value valid against a (simple) JSON Schema, and
// the answer a mock gives a request with tools or a response format (docs/api.md#tools-and-structured-output).
// Plain data in, plain data out; no knowledge of who asks.
//
// schemaExample handles type (one or a list), enum, const, properties/required, items with
// minItems, string minLength/maxLength, number minimum, anyOf/oneOf/allOf (the first). Depth-bounded.

type Schema = Record<string, any>;

export function schemaExample(schema: unknown, depth = 0): unknown {
  if (typeof schema !== "object" || schema === null || depth > 16) return null;
  const s = schema as Schema;
  if ("const" in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  for (const k of ["anyOf", "oneOf", "allOf"]) if (Array.isArray(s[k]) && s[k].length > 0) return schemaExample(s[k][0], depth + 1);
  const type = Array.isArray(s.type) ? (s.type.find((t: unknown) => t !== "null") ?? "null") : (s.type ?? (s.properties ? "object" : undefined));
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      const props = (s.properties ?? {}) as Record<string, unknown>;
      const required: string[] = Array.isArray(s.required) ? s.required : Object.keys(props);
      for (const key of Object.keys(props)) if (required.includes(key)) out[key] = schemaExample(props[key], depth + 1);
      return out;
    }
    case "array":
      return Array.from({ length: Math.min(Number(s.minItems) || 0, 16) }, () => schemaExample(s.items ?? {}, depth + 1));
    case "string": {
      const min = Math.min(Number(s.minLength) || 1, 64);
      const max = s.maxLength === undefined ? min : Number(s.maxLength);
      return "x".repeat(Math.max(0, Math.min(min, max)));
    }
    case "integer":
    case "number":
      return typeof s.minimum === "number" ? (type === "integer" ? Math.ceil(s.minimum) : s.minimum) : 0;
    case "boolean":
      return true;
    case "null":
      return null;
    default:
      return {};
  }
}

/** The request fields a structured answer depends on, in OpenAI's chat shapes. */
export interface StructuredAsk {
  tools?: readonly { type?: string; function: { name: string; parameters?: unknown } }[] | null;
  tool_choice?: "auto" | "none" | "required" | { type?: string; function: { name: string } } | null;
  response_format?: { type: string; json_schema?: { schema?: unknown } } | null;
}

export interface ExampleCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/**
 * The mocks' deterministic answer: with tool_choice `required` or a named function, one call (the
 * named function, else the first tool) whose arguments are schemaExample(parameters); with `auto`
 * or `none` never a call. A json_object format answers `{}`, a json_schema one
 * schemaExample(schema). Undefined: answer plain text.
 */
export function structuredExample(r: StructuredAsk, callId: string): { text?: string; calls?: ExampleCall[] } | undefined {
  const choice = r.tool_choice;
  const tools = r.tools ?? [];
  if (tools.length > 0 && (choice === "required" || (typeof choice === "object" && choice !== null))) {
    const name = typeof choice === "object" && choice !== null ? choice.function.name : tools[0]!.function.name;
    const tool = tools.find((t) => t.function.name === name) ?? tools[0]!;
    const args = JSON.stringify(schemaExample(tool.function.parameters ?? { type: "object" }));
    return { calls: [{ id: callId.slice(0, 256), type: "function", function: { name, arguments: args } }] };
  }
  const f = r.response_format;
  if (f?.type === "json_object") return { text: "{}" };
  if (f?.type === "json_schema") return { text: JSON.stringify(schemaExample(f.json_schema?.schema ?? { type: "object" })) };
  return undefined;
}
