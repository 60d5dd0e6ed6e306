// POST /v1/embeddings of the built-in engine: OpenAI's embeddings API over node-llama-cpp's
// embedding context. The context is made on the first request, not at load (a pool that never
// embeds holds no second context), sized like one slot, and runs one input at a time (the context
// itself evaluates one sequence). Inputs: a string or an array of strings; token arrays are
// refused. An input longer than the context is a 400, as llama-server answers it.

import type { LlamaEmbeddingContext, LlamaModel } from "node-llama-cpp";
import { json, readJson } from "./http.ts";
import { RequestError } from "./params.ts";

export interface EmbedderOptions {
  /** Tokens one input may have (the slot's context). */
  contextSize: number;
  threads: number;
  log: (line: string) => void;
}

export class Embedder {
  private context: Promise<LlamaEmbeddingContext> | undefined;
  private closed = false;

  constructor(
    private readonly model: LlamaModel,
    private readonly options: EmbedderOptions,
  ) {}

  private open(): Promise<LlamaEmbeddingContext> {
    if (!this.context) {
      const made = this.model.createEmbeddingContext({ contextSize: this.options.contextSize, threads: this.options.threads });
      made.then(
        () => this.options.log(`srv  embeddings: embedding context ready (${this.options.contextSize} tokens)`),
        () => {
          this.context = undefined; // a later request tries again
        },
      );
      this.context = made;
    }
    return this.context;
  }

  /** One vector per input, in order, and the inputs' tokens together. */
  async embed(inputs: string[], signal: AbortSignal): Promise<{ vectors: number[][]; tokens: number }> {
    if (this.closed) throw new RequestError(503, "the server is shutting down", "unavailable_error");
    const context = await this.open();
    const vectors: number[][] = [];
    let tokens = 0;
    for (const [i, text] of inputs.entries()) {
      if (signal.aborted) throw new RequestError(499, "the client closed the request");
      const length = text === "" ? 0 : context.calculateInputLength(text);
      if (length === 0) throw new RequestError(400, `input[${i}] is empty`);
      if (length >= this.options.contextSize) throw new RequestError(400, `input[${i}] (${length} tokens) is too large to process; the context holds ${this.options.contextSize}`);
      const embedding = await context.getEmbeddingFor(text);
      vectors.push([...embedding.vector]);
      tokens += length;
    }
    return { vectors, tokens };
  }

  async dispose(): Promise<void> {
    this.closed = true;
    const context = await this.context?.catch(() => undefined);
    await context?.dispose();
  }
}

/** The OpenAI embeddings route. */
export async function embeddingsRoute(embedder: Embedder, modelId: string, req: Request): Promise<Response> {
  const body = (await readJson(req)) as { input?: unknown; encoding_format?: unknown } | null;
  const input = body?.input;
  const inputs = typeof input === "string" ? [input] : input;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((s) => typeof s === "string")) {
    throw new RequestError(400, "\"input\" must be a string or a non-empty array of strings (token arrays are not supported)");
  }
  if (body?.encoding_format !== undefined && body.encoding_format !== "float") throw new RequestError(400, "only encoding_format \"float\" is supported");
  const { vectors, tokens } = await embedder.embed(inputs as string[], req.signal);
  return json({
    object: "list",
    model: modelId,
    data: vectors.map((embedding, index) => ({ object: "embedding", index, embedding })),
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}
