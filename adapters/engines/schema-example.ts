// A deterministic value valid against a (simple) JSON Schema: what the mock engines answer for a
// response format or a forced tool call, so the API's structured paths are testable without a
// model. Handles type (one or a list), enum, const, properties/required, items with minItems,
// string minLength/maxLength, number minimum, anyOf/oneOf/allOf (the first). Depth-bounded.

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
