// A replica's embeddings: one batch of inputs through the engine's `embed`, answered as the node
// link's EmbedReply (vectors as base64 float32). Never throws: an engine that cannot embed is
// INVALID_PARAMS naming the model, an engine failure keeps its code, and the vectors are checked
// (one per input, finite, of one length) before they leave the node.

import { describe } from "../../../runtime/index.ts";
import { EngineError, type EngineAdapter } from "../../../adapters/engines/index.ts";
import { apiError, encodeVector, internalError, invalidParams, MAX_EMBEDDING_DIMENSIONS, retriableError, type EmbedReply } from "../../../contract/index.ts";

export async function embedWith(engine: EngineAdapter, model: string, poolId: string, inputs: string[], signal: AbortSignal): Promise<EmbedReply> {
  if (!engine.embed) return { ok: false, error: invalidParams(`model '${model}' cannot embed: engine '${engine.engine}' of pool ${poolId} serves no embeddings`, { pool_id: poolId }) };
  try {
    const got = await engine.embed(inputs, signal);
    if (got.vectors.length !== inputs.length) throw new EngineError("INTERNAL", `engine returned ${got.vectors.length} vectors for ${inputs.length} inputs`);
    const dims = got.vectors[0]?.length ?? 0;
    for (const v of got.vectors) {
      if (v.length !== dims || dims === 0 || dims > MAX_EMBEDDING_DIMENSIONS || !v.every(Number.isFinite)) throw new EngineError("INTERNAL", "engine returned malformed vectors");
    }
    return { ok: true, vectors: got.vectors.map(encodeVector), tokens_in: got.tokens_in };
  } catch (error) {
    if (error instanceof EngineError) {
      const retriable = error.code === "POOL_UNAVAILABLE" || error.code === "WORKER_RESET";
      const envelope = retriable ? retriableError(error.code, error.message, { pool_id: poolId }) : apiError(error.code, error.message, { pool_id: poolId });
      return { ok: false, error: envelope };
    }
    // The replica stopped under the batch: the engine went away, as for a stream (WORKER_RESET).
    if (signal.aborted) return { ok: false, error: retriableError("WORKER_RESET", `engine replica reset during embedding: ${describe(error)}`, { pool_id: poolId }) };
    return { ok: false, error: internalError(`embedding failed on pool ${poolId}: ${describe(error)}`, { pool_id: poolId }) };
  }
}
