// Token log probabilities from a real llama.cpp `llama-server` serving the tiny model: the llama.cpp
// adapter on /completion (`n_probs`) and on /v1/chat/completions, and the OpenAI-compatible adapter
// on /v1/completions, each with logprobs and 2 alternatives: every token carries a finite log
// probability ≤ 0 and exactly 2 alternatives, the first of which is the token itself under greedy
// sampling. Without logprobs no token carries any. Skips, saying why, when the build is absent.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LlamaCppEngine } from "../../adapters/engines/llamacpp.ts";
import { OpenAiEngine } from "../../adapters/engines/openai.ts";
import type { EngineAdapter, EngineEvent, EngineRequest } from "../../adapters/engines/types.ts";
import { ensureTinyModel } from "../../engines/tiny-model/tiny-gguf.ts";
import { LLAMA_SERVER_MISSING, llamaServerPath, startLlamaServer, type LlamaServer } from "../harness/llama-server.ts";

const built = llamaServerPath() !== undefined;
if (!built) console.warn(LLAMA_SERVER_MISSING);

async function tokens(adapter: EngineAdapter, req: EngineRequest) {
  const out: Extract<EngineEvent, { type: "token" }>[] = [];
  for await (const e of adapter.submit(req, new AbortController().signal)) if (e.type === "token") out.push(e);
  return out;
}
const request = (over: Partial<EngineRequest> = {}): EngineRequest => ({ task_id: "lp1", prompt: "Once upon a time", max_tokens: 8, seed: 7, ignore_eos: true, ...over });

function expectLogprobs(got: Extract<EngineEvent, { type: "token" }>[], top: number) {
  expect(got.length).toBeGreaterThan(0);
  for (const t of got) {
    expect(Number.isFinite(t.lp!.logprob)).toBe(true);
    expect(t.lp!.logprob).toBeLessThanOrEqual(0);
    expect(t.lp!.top).toHaveLength(top);
    for (const a of t.lp!.top!) expect(a.logprob).toBeLessThanOrEqual(0);
    // Greedy: the chosen token is the most likely one.
    expect(t.lp!.top![0]!.logprob).toBeCloseTo(t.lp!.logprob, 4);
  }
}

describe.skipIf(!built)("real llama-server: logprobs", () => {
  let server: LlamaServer;
  beforeAll(async () => {
    server = await startLlamaServer({ model: ensureTinyModel().path, alias: "tiny" });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  test("llama.cpp adapter, /completion with n_probs", async () => {
    const adapter = new LlamaCppEngine({ baseUrl: server.url });
    expectLogprobs(await tokens(adapter, request({ logprobs: true, top_logprobs: 2 })), 2);
    const plain = await tokens(adapter, request());
    expect(plain.every((t) => t.lp === undefined)).toBe(true);
  }, 60_000);

  test("llama.cpp adapter, a chat on /v1/chat/completions; top_logprobs 0 gives each token's own only", async () => {
    const adapter = new LlamaCppEngine({ baseUrl: server.url });
    const chat = request({ prompt: "", messages: [{ role: "user", content: "hello" }], logprobs: true, top_logprobs: 2 });
    expectLogprobs(await tokens(adapter, chat), 2);
    const bare = await tokens(adapter, { ...chat, top_logprobs: 0 });
    expect(bare.length).toBeGreaterThan(0);
    for (const t of bare) expect(t.lp).toEqual({ logprob: expect.any(Number) });
  }, 60_000);

  test("OpenAI-compatible adapter, /v1/completions with logprobs: N", async () => {
    const adapter = new OpenAiEngine({ baseUrl: server.url, model: "tiny" });
    expectLogprobs(await tokens(adapter, request({ logprobs: true, top_logprobs: 2 })), 2);
  }, 60_000);
});
