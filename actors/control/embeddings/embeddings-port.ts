// POST /v1/embeddings on the control plane: picks one ready pool that has the model and serves the
// `embedding` workload, and asks its node's agent over the link, one batch of EMBED_BATCH_INPUTS
// inputs per ask, in order. An embedding is a short request/response, not a stream: it does not
// go through the task queue, holds no lease and no task actor (docs/api.md#post-v1embeddings says
// why). The pool is the one with the most free slots; among equals, turns rotate.
//
// Nodes are peers: every reply is checked (EmbedReply) and its vectors decoded and held to one
// length before the client sees them.

import { describe, RealClock, type Clock, type Logger } from "../../../runtime/index.ts";
import {
  decodeVector,
  EMBED_BATCH_INPUTS,
  EmbedReply,
  internalError,
  invalidParams,
  modelNotAvailable,
  poolUnavailable,
  type EmbeddingsPort,
  type EmbedOutcome,
  type EmbedRequest,
} from "../../../contract/index.ts";
import { asPoolsAgent } from "../../../contract/link.ts";
import type { PoolHolder, RegistryRef } from "../registry/protocol.ts";

export interface EmbeddingsPortOptions {
  clock?: Clock;
  log?: Logger;
  /** Longest wait for one batch's answer from a node; default 120 s. */
  batchTimeoutMs?: number;
}

export const EMBEDDINGS_DEFAULTS = { batchTimeoutMs: 120_000 };

const serves = (h: PoolHolder) => (h.pool.workloads ?? ["completion"]).includes("embedding");

export function createEmbeddingsPort(registry: RegistryRef, options: EmbeddingsPortOptions = {}): EmbeddingsPort {
  const clock = options.clock ?? new RealClock();
  const batchTimeoutMs = options.batchTimeoutMs ?? EMBEDDINGS_DEFAULTS.batchTimeoutMs;
  let turn = 0;

  const pick = async (model: string): Promise<{ ok: true; holder: PoolHolder } | { ok: false; error: EmbedOutcome & { ok: false } }> => {
    const holders = (await registry.ask({ type: "model-holders", model })).filter((h) => h.online);
    const fail = (error: ReturnType<typeof invalidParams>) => ({ ok: false as const, error: { ok: false as const, error } });
    if (holders.length === 0) return fail(modelNotAvailable(`no online pool serves model '${model}'`));
    const embedding = holders.filter(serves);
    if (embedding.length === 0) {
      const engines = [...new Set(holders.map((h) => h.pool.engine))].join(", ");
      return fail(invalidParams(`model '${model}' serves no embeddings: its pools (engine ${engines}) do not advertise the embedding workload`));
    }
    const ready = embedding.filter((h) => h.pool.ready && !h.pool.draining);
    if (ready.length === 0) return fail(poolUnavailable(`no pool serving embeddings of model '${model}' is ready`));
    const most = Math.max(...ready.map((h) => h.pool.slots_free));
    const best = ready.filter((h) => h.pool.slots_free === most).sort((a, b) => (a.node_id + a.pool.pool_id < b.node_id + b.pool.pool_id ? -1 : 1));
    return { ok: true, holder: best[turn++ % best.length]! };
  };

  return {
    async embed(request: EmbedRequest, signal?: AbortSignal): Promise<EmbedOutcome> {
      const chosen = await pick(request.model);
      if (!chosen.ok) return chosen.error;
      const { holder } = chosen;
      const where = `pool ${holder.pool.pool_id} on node ${holder.node_id}`;
      const agent = asPoolsAgent(holder.agent);
      const vectors: Float32Array[] = [];
      let tokens = 0;
      for (let from = 0; from < request.inputs.length; from += EMBED_BATCH_INPUTS) {
        if (signal?.aborted) return { ok: false, error: internalError("the client went away") };
        const inputs = request.inputs.slice(from, from + EMBED_BATCH_INPUTS);
        let raw: unknown;
        try {
          raw = await agent.ask({ type: "embed", pool_id: holder.pool.pool_id, model: request.model, inputs }, { deadline: clock.now() + batchTimeoutMs });
        } catch (error) {
          return { ok: false, error: poolUnavailable(`${where} did not answer the embeddings request: ${describe(error)}`, { pool_id: holder.pool.pool_id }) };
        }
        const reply = EmbedReply.safeParse(raw);
        if (!reply.success) {
          options.log?.warn("A node answered an embeddings request with a malformed reply", { node_id: holder.node_id, pool_id: holder.pool.pool_id });
          return { ok: false, error: internalError(`${where} answered the embeddings request with a malformed reply`) };
        }
        if (!reply.data.ok) return { ok: false, error: reply.data.error };
        if (reply.data.vectors.length !== inputs.length) return { ok: false, error: internalError(`${where} returned ${reply.data.vectors.length} vectors for ${inputs.length} inputs`) };
        for (const text of reply.data.vectors) {
          const v = decodeVector(text);
          if (!v || v.length === 0 || (vectors.length > 0 && v.length !== vectors[0]!.length) || !v.every(Number.isFinite)) {
            return { ok: false, error: internalError(`${where} returned malformed vectors`) };
          }
          vectors.push(v);
        }
        tokens += reply.data.tokens_in;
      }
      return { ok: true, vectors, prompt_tokens: tokens, node_id: holder.node_id, pool_id: holder.pool.pool_id };
    },
  };
}
