// The mock engines' embeddings: deterministic fake vectors, so POST /v1/embeddings can be tested
// without a model. Each input gets MOCK_EMBEDDING_DIMS numbers: component k comes from FNV-1a of
// `k:<text>` mapped onto [-1, 1], and the vector is scaled to length 1. The same text always gives
// the same vector; different texts, different ones. Prompt tokens are counted as the mock counts
// a prompt: its words plus one. The in-process mock engine (adapters/engines/mock.ts) computes
// the same vectors (tests hold the two to it).

export const MOCK_EMBEDDING_DIMS = 16;

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export function mockEmbedding(text: string, dims = MOCK_EMBEDDING_DIMS): number[] {
  const v: number[] = [];
  for (let k = 0; k < dims; k++) v.push((fnv1a(`${k}:${text}`) / 0xffffffff) * 2 - 1);
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

export function mockTokens(text: string): number {
  return (text.match(/\S+/g)?.length ?? 0) + 1;
}

/** OpenAI's embeddings body for `input` (a string or a list of strings), or why it is refused. */
export function mockEmbeddingsResponse(body: unknown, model: string): { status: number; body: unknown } {
  const input = (body as { input?: unknown } | null)?.input;
  const inputs = typeof input === "string" ? [input] : input;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((s) => typeof s === "string")) {
    return { status: 400, body: { error: { code: 400, type: "invalid_request_error", message: "\"input\" must be a string or a non-empty array of strings" } } };
  }
  const tokens = inputs.reduce((n, s) => n + mockTokens(s), 0);
  return {
    status: 200,
    body: {
      object: "list",
      model,
      data: inputs.map((s, index) => ({ object: "embedding", index, embedding: mockEmbedding(s) })),
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  };
}
