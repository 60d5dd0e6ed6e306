// The request features beyond plain sampling (tools, response formats, penalties, logit_bias) as
// the engine servers take them, and the refusal of one an engine kind does not honour. The control
// plane refuses such a task at admission already (contract ENGINE_FEATURES); this is the engine's
// own check, for a task that lands on a pool without the feature in a fleet of mixed engines.

import { neededFeatures, unmetFeature, type EngineRequest } from "../../contract/index.ts";
import { EngineError } from "./types.ts";

/** Throws INVALID_PARAMS (`<param>: not supported …`) when `engine` lacks a feature the request needs. */
export function refuseUnsupported(engine: string, r: EngineRequest): void {
  const unmet = unmetFeature(engine, neededFeatures(r));
  if (unmet) throw new EngineError("INVALID_PARAMS", `${unmet.param}: not supported by engine ${engine} (${unmet.feature})`);
}

/** llama.cpp's logit_bias: `[[token, bias]]`, with `false` for never (-100), as every llama-server version takes it. */
export function llamaLogitBias(bias: Record<string, number>): [number, number | false][] {
  return Object.entries(bias).map(([t, b]) => [Number(t), b <= -100 ? false : b]);
}

/** OpenAI's chat fields for tools, format and penalties, sent only when the task has them. */
export function openAiFeatureFields(r: EngineRequest, logitBias: "openai" | "llama" = "openai"): Record<string, unknown> {
  return {
    ...(r.tools ? { tools: r.tools } : {}),
    ...(r.tools && r.tool_choice !== undefined ? { tool_choice: r.tool_choice } : {}),
    ...(r.response_format && r.response_format.type !== "text" ? { response_format: r.response_format } : {}),
    ...(r.presence_penalty !== undefined ? { presence_penalty: r.presence_penalty } : {}),
    ...(r.frequency_penalty !== undefined ? { frequency_penalty: r.frequency_penalty } : {}),
    ...(r.logit_bias && Object.keys(r.logit_bias).length ? { logit_bias: logitBias === "llama" ? llamaLogitBias(r.logit_bias) : r.logit_bias } : {}),
  };
}

/** The JSON Schema a response format asks for: its schema, or any object for json_object. */
export function formatSchema(r: EngineRequest): Record<string, unknown> | undefined {
  const f = r.response_format;
  if (f?.type === "json_schema") return f.json_schema.schema ?? { type: "object" };
  if (f?.type === "json_object") return { type: "object" };
  return undefined;
}
