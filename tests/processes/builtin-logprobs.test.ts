// Log probabilities from the built-in engine through real processes (`bun run control` + `bun run
// node` with the built-in engine on the tiny model): the official `openai` client's chat
// completions (logprobs + top_logprobs) and legacy completions (logprobs: N), and a /v2 task's SSE
// token events. Greedy decoding (temperature 0), so each chosen token is the most likely one.

import { expect, test } from "bun:test";
import OpenAI from "openai";
import { TINY_MODEL, useBuiltinPair } from "../harness/builtin-pair.ts";
import { collect, submitTask } from "../harness/sse.ts";

const served = useBuiltinPair();

const openai = () => new OpenAI({ baseURL: `${served.base}/v1`, apiKey: "unused", maxRetries: 0 });
const sane = (v: number) => Number.isFinite(v) && v <= 0;

test("openai chat: one entry per token, texts join to the answer, 2 alternatives, greedy picks the most likely", async () => {
  const r = await openai().chat.completions.create({ model: TINY_MODEL, messages: [{ role: "user", content: "hello" }], max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 2 });
  const content = r.choices[0]!.logprobs!.content!;
  expect(content.length).toBeGreaterThan(0);
  expect(content.length).toBeLessThanOrEqual(r.usage!.completion_tokens);
  expect(content.map((e) => e.token).join("")).toBe(r.choices[0]!.message.content!);
  for (const e of content) {
    expect(sane(e.logprob)).toBe(true);
    expect(e.top_logprobs).toHaveLength(2);
    expect(e.top_logprobs.every((a) => sane(a.logprob))).toBe(true);
    expect(e.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(e.top_logprobs[1]!.logprob);
    expect(e.logprob).toBeGreaterThanOrEqual(e.top_logprobs[0]!.logprob - 1e-6);
  }
  // Streamed: the same entries, one chunk's worth at a time.
  const stream = await openai().chat.completions.create({ model: TINY_MODEL, messages: [{ role: "user", content: "hello" }], max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 2, stream: true });
  const streamed = [];
  for await (const chunk of stream) streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
  expect(streamed.map((e) => [e.token, e.logprob])).toEqual(content.map((e) => [e.token, e.logprob]));
}, 60_000);

test("openai completions with logprobs: 2: the legacy shape", async () => {
  const r = await openai().completions.create({ model: TINY_MODEL, prompt: "once upon", max_tokens: 8, temperature: 0, logprobs: 2 });
  const lp = r.choices[0]!.logprobs!;
  expect(lp.tokens!.join("")).toBe(r.choices[0]!.text);
  expect(lp.token_logprobs!.every(sane)).toBe(true);
  for (const [k, alts] of lp.top_logprobs!.entries()) {
    const values = Object.values(alts);
    expect(values.length).toBeGreaterThanOrEqual(1);
    expect(values.length).toBeLessThanOrEqual(2);
    expect(lp.token_logprobs![k]!).toBeGreaterThanOrEqual(Math.max(...values) - 1e-6);
  }
}, 60_000);

test("/v2: the SSE token events carry lp", async () => {
  const t = await submitTask(served.base, { model_ref: TINY_MODEL, prompt: "tell me", max_tokens: 6, seed: 3, logprobs: true, top_logprobs: 2 });
  expect(t.status).toBe(202);
  const tokens = (await collect(`${served.base}${t.json.streams.sse}`)).frames.filter((f) => f.event === "token");
  expect(tokens.length).toBeGreaterThan(0);
  for (const f of tokens) {
    expect(sane(f.data.lp.logprob)).toBe(true);
    expect(f.data.lp.top).toHaveLength(2);
    expect(f.data.lp.logprob).toBeGreaterThanOrEqual(f.data.lp.top[0].logprob - 1e-6);
  }
}, 60_000);
