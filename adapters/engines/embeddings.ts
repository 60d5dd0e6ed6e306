// POST /v1/embeddings against an engine that speaks OpenAI's embeddings API: llama-server (started
// with --embeddings), our built-in engine and mock engine, vLLM/SGLang and hosted OpenAI-compatible
// APIs. The adapters call this from their `embed`. The answer is checked before it is trusted: one
// finite vector per input, all of one length, no larger than MAX_EMBEDDING_DIMENSIONS, and a body
// no larger than the inputs could need.

import type { Clock } from "../../runtime/index.ts";
import { MAX_EMBEDDING_DIMENSIONS, type EngineEmbeddings } from "../../contract/embeddings.ts";
import { deadline, errorMessage } from "./http-stream.ts";
import { EngineError } from "./types.ts";

export interface EmbeddingsCall {
  /** Server root, without `/v1`. */
  base: string;
  /** The model name the server knows. */
  model: string;
  inputs: string[];
  headers: Record<string, string>;
  clock: Clock;
  timeoutMs: number;
  signal: AbortSignal;
  /** Who answered, for messages (no secrets). */
  who: string;
  /** Applied to every message built from the server's answer (drops API keys). */
  redact?: (text: string) => string;
}

/** 400/404/422/501 is the server saying it cannot embed this (or at all): the request's fault, not the pool's. */
function codeFor(status: number): EngineError["code"] {
  if (status === 400 || status === 404 || status === 422 || status === 501) return "INVALID_PARAMS";
  return status === 429 || status === 502 || status === 503 || status === 504 ? "POOL_UNAVAILABLE" : "INTERNAL";
}

export async function postEmbeddings(call: EmbeddingsCall): Promise<EngineEmbeddings> {
  const redact = call.redact ?? ((t: string) => t);
  const limit = deadline(call.clock, call.timeoutMs, "POST /v1/embeddings");
  let res: Response;
  try {
    res = await fetch(`${call.base}/v1/embeddings`, {
      method: "POST",
      headers: { ...call.headers, "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ model: call.model, input: call.inputs, encoding_format: "float" }),
      signal: AbortSignal.any([call.signal, limit.signal]),
    });
  } catch (error) {
    limit.cancel();
    if (call.signal.aborted) throw call.signal.reason;
    const why = limit.fired() ? `timed out after ${call.timeoutMs} ms` : redact((error as Error).message);
    throw new EngineError("POOL_UNAVAILABLE", `${call.who} did not answer /v1/embeddings: ${why}`);
  }
  try {
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    if (!res.ok) {
      const detail = redact(errorMessage(body) ?? res.statusText ?? "").slice(0, 300);
      throw new EngineError(codeFor(res.status), `${call.who} refused the embeddings request: HTTP ${res.status}: ${detail}`);
    }
    return parseEmbeddings(body, call.inputs.length, call.who);
  } catch (error) {
    if (error instanceof EngineError) throw error;
    if (call.signal.aborted) throw call.signal.reason;
    throw new EngineError("INTERNAL", `${call.who} broke off its embeddings answer: ${limit.fired() ? "timed out" : redact((error as Error).message)}`);
  } finally {
    limit.cancel();
  }
}

/** OpenAI's `{data:[{index, embedding}], usage:{prompt_tokens}}` → vectors in input order. */
export function parseEmbeddings(body: unknown, count: number, who: string): EngineEmbeddings {
  const bad = (why: string) => new EngineError("INTERNAL", `${who} answered /v1/embeddings with ${why}`);
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || data.length !== count) throw bad(`${Array.isArray(data) ? data.length : "no"} vectors for ${count} inputs`);
  const vectors: number[][] = new Array(count);
  let dims: number | undefined;
  for (let k = 0; k < data.length; k++) {
    const item = data[k] as { index?: unknown; embedding?: unknown } | null;
    const index = typeof item?.index === "number" ? item.index : k;
    const v = item?.embedding;
    if (!Number.isInteger(index) || index < 0 || index >= count || vectors[index] !== undefined) throw bad(`a bad index ${String(index)}`);
    if (!Array.isArray(v) || v.length === 0 || v.length > MAX_EMBEDDING_DIMENSIONS) throw bad("a vector that is not a list of 1 to 65536 numbers");
    if (dims !== undefined && v.length !== dims) throw bad("vectors of different lengths");
    dims = v.length;
    for (const x of v) if (typeof x !== "number" || !Number.isFinite(x)) throw bad("a vector holding a non-number");
    vectors[index] = v as number[];
  }
  const usage = (body as { usage?: { prompt_tokens?: unknown } }).usage?.prompt_tokens;
  return { vectors, tokens_in: typeof usage === "number" && Number.isSafeInteger(usage) && usage >= 0 ? usage : 0 };
}
