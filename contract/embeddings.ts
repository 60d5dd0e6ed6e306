// Embeddings: the workloads a pool serves, what an engine answers when asked for embeddings, the
// node-link ask that carries a batch of inputs to a pool (and its reply), and the port through
// which the client APIs (POST /v1/embeddings) reach the control plane.
//
// An embedding request is one round trip, not a stream: the control plane picks a ready pool that
// serves the model and advertises the `embedding` workload, and asks that node's agent, one batch
// of inputs per ask (docs/api.md#post-v1embeddings). Vectors cross the link as base64 of
// little-endian float32, a third the size of JSON numbers, so a batch's reply stays well inside
// one WebSocket frame.

import { z } from "zod";
import { ErrorEnvelope } from "./errors.ts";

export const Workload = z.enum(["completion", "embedding"]);
export type Workload = z.infer<typeof Workload>;

/** Most inputs in one request (OpenAI's own limit). */
export const MAX_EMBEDDING_INPUTS = 2048;
/** Longest input, in characters (OpenAI allows 8192 tokens per input; ~4 characters a token, with room). */
export const MAX_EMBEDDING_INPUT_CHARS = 65_536;
/** Inputs per node-link ask: a batch's vectors (8192 dimensions at most) stay under 1 MiB of frame. */
export const EMBED_BATCH_INPUTS = 16;
/** Largest vector accepted from a node. */
export const MAX_EMBEDDING_DIMENSIONS = 65_536;

/** What an engine answers for a batch of inputs: one vector per input, in order. */
export interface EngineEmbeddings {
  vectors: number[][];
  /** Input tokens as the engine counted them (all inputs together). */
  tokens_in: number;
}

/** Control → node agent: embed these inputs with the pool's model. */
export const EmbedPayload = z
  .object({
    type: z.literal("embed"),
    pool_id: z.string().min(1).max(128),
    model: z.string().min(1).max(1024),
    inputs: z.array(z.string().max(MAX_EMBEDDING_INPUT_CHARS)).min(1).max(EMBED_BATCH_INPUTS),
  })
  .strict();
export type EmbedMsg = z.infer<typeof EmbedPayload>;

/** Node → control: the batch's vectors (base64 float32 LE, one per input) or why not. */
export const EmbedReply = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    vectors: z.array(z.string().max(Math.ceil((MAX_EMBEDDING_DIMENSIONS * 4) / 3) + 4)).max(EMBED_BATCH_INPUTS),
    tokens_in: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  }),
  z.object({ ok: z.literal(false), error: ErrorEnvelope }),
]);
export type EmbedReply = z.infer<typeof EmbedReply>;

/** A vector as base64 of little-endian float32. */
export function encodeVector(vector: ArrayLike<number>): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i]!, true);
  return Buffer.from(bytes).toString("base64");
}

/** The inverse of encodeVector; undefined when the text is not a whole number of float32s. */
export function decodeVector(text: string): Float32Array | undefined {
  const bytes = Buffer.from(text, "base64");
  if (bytes.length % 4 !== 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export interface EmbedRequest {
  model: string;
  inputs: string[];
}

export type EmbedOutcome =
  | { ok: true; vectors: Float32Array[]; prompt_tokens: number; node_id: string; pool_id: string }
  | { ok: false; error: ErrorEnvelope };

/** Implemented by actors/control, called by adapters/http. */
export interface EmbeddingsPort {
  /**
   * The inputs' vectors, in order, from one pool. MODEL_NOT_AVAILABLE when no online pool has the
   * model; INVALID_PARAMS when pools have it but none serves embeddings; POOL_UNAVAILABLE when
   * those that do are not ready now.
   */
  embed(request: EmbedRequest, signal?: AbortSignal): Promise<EmbedOutcome>;
}
