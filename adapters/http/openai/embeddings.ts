// POST /v1/embeddings: OpenAI's request and response over the control plane's EmbeddingsPort.
// `input` is a string or a list of strings; token arrays are refused (no engine here takes them
// through this path), as is `dimensions` (no engine shortens vectors). `encoding_format` is float
// (JSON numbers) or base64 (little-endian float32, what the official client asks for by default).

import type { Context } from "hono";
import { z } from "zod";
import { encodeVector, MAX_EMBEDDING_INPUT_CHARS, MAX_EMBEDDING_INPUTS, type EmbeddingsPort } from "../../../contract/index.ts";
import { readBody, unsupported } from "./body.ts";
import { fromEnvelope, openAiError, respond } from "./errors.ts";
import { modelUnavailable, type ModelSources } from "./models.ts";

const Text = z.string().min(1, { error: "an input must not be empty" }).max(MAX_EMBEDDING_INPUT_CHARS);
const TokenIds = z.array(z.number().int());

export const EmbeddingsRequest = z
  .looseObject({
    model: z.string().min(1).max(1024),
    input: z.union([Text, z.array(Text).min(1).max(MAX_EMBEDDING_INPUTS), TokenIds, z.array(TokenIds)], {
      error: `input must be a non-empty string or an array of 1 to ${MAX_EMBEDDING_INPUTS} such strings (each ≤ ${MAX_EMBEDDING_INPUT_CHARS} characters)`,
    }),
    encoding_format: z.enum(["float", "base64"]).nullish(),
    dimensions: z.number().int().min(1).nullish().describe("Not supported: answered 400"),
    user: z.string().max(1024).nullish(),
  })
  .describe("OpenAI's embeddings request");
export type EmbeddingsRequest = z.infer<typeof EmbeddingsRequest>;

export const EmbeddingsResponse = z.object({
  object: z.literal("list"),
  data: z.array(
    z.object({
      object: z.literal("embedding"),
      index: z.number().int(),
      embedding: z.union([z.array(z.number()), z.string()]).describe("Numbers, or base64 of little-endian float32 with encoding_format base64"),
    }),
  ),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
});

/** A refusal that is about the model (it cannot embed), not about the inputs. */
const ABOUT_MODEL = /cannot embed|serves no embeddings|does not support|not support embeddings|--embeddings/i;

export async function embeddingsRoute(c: Context, port: EmbeddingsPort | undefined, sources: ModelSources): Promise<Response> {
  const body = await readBody(c, EmbeddingsRequest);
  if (!body.ok) return respond(c, body.reply);
  const req = body.value;
  const input = req.input;
  if (Array.isArray(input) && input.some((x) => typeof x !== "string")) {
    return respond(c, unsupported("input", "token arrays are not supported; send the text"));
  }
  if (req.dimensions != null) return respond(c, unsupported("dimensions", "shortened embeddings are not supported; omit dimensions for the model's own size"));
  if (!port) return respond(c, openAiError(404, "not_found", "embeddings are not served here"));
  const inputs = typeof input === "string" ? [input] : (input as string[]);
  const outcome = await port.embed({ model: req.model, inputs }, c.req.raw.signal);
  if (!outcome.ok) {
    const e = outcome.error;
    if (e.code === "MODEL_NOT_AVAILABLE") return respond(c, await modelUnavailable(sources, req.model, e.message));
    if (e.code === "INVALID_PARAMS") return respond(c, fromEnvelope(e, { param: ABOUT_MODEL.test(e.message) ? "model" : "input" }));
    return respond(c, fromEnvelope(e));
  }
  const base64 = req.encoding_format === "base64";
  return c.json({
    object: "list",
    data: outcome.vectors.map((v, index) => ({ object: "embedding", index, embedding: base64 ? encodeVector(v) : Array.from(v) })),
    model: req.model,
    usage: { prompt_tokens: outcome.prompt_tokens, total_tokens: outcome.prompt_tokens },
  });
}
