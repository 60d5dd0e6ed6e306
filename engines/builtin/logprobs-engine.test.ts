// Log probabilities on the built-in engine, real llama.cpp on the tiny model (a byte vocabulary, so
// every multi-byte character spans tokens): llama-server's `completion_probabilities` (n_probs) on
// /completion, OpenAI's shapes on /v1/*, lined up with the streamed text across stop strings,
// multi-byte characters and a grammar; values finite, ≤ 0, greedy picks the most likely; a
// request without them gets none and the same text.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { ensureTinyModel } from "../tiny-model/tiny-gguf.ts";
import { parseBuiltinEngineFlags } from "./flags.ts";
import { startBuiltinEngine, type BuiltinEngineHandle } from "./server.ts";
import { post, sseEvents, streamCompletion } from "../../tests/fixtures/builtin-client.ts";

let engine: BuiltinEngineHandle;

beforeAll(async () => {
  engine = startBuiltinEngine(parseBuiltinEngineFlags(["--model", ensureTinyModel().path, "--port", "0", "--cpu", "--ctx", "2048", "--alias", "tiny"]), { log: () => {} });
  await engine.ready;
});

afterAll(async () => {
  await engine?.stop();
});

interface Entry {
  id: number;
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { id: number; token: string; logprob: number; bytes: number[] }[];
}

/** Each entry's values are sane: finite, ≤ 0, `top` alternatives sorted, greedy's token the most likely. */
function checkEntries(entries: Entry[], top: number, greedy: boolean) {
  for (const e of entries) {
    expect(Number.isFinite(e.logprob) && e.logprob <= 0).toBe(true);
    expect(e.bytes).toEqual([...new TextEncoder().encode(e.token)]);
    expect(e.top_logprobs).toHaveLength(top);
    const lps = e.top_logprobs.map((a) => a.logprob);
    expect(lps.every((v) => Number.isFinite(v) && v <= 0)).toBe(true);
    expect(lps).toEqual([...lps].sort((a, b) => b - a));
    if (greedy) expect(e.logprob).toBeGreaterThanOrEqual(lps[0]! - 1e-6);
  }
}

test("/completion with n_probs: each streamed piece carries its tokens' entries; not streamed: all of them", async () => {
  const req = { prompt: "hello there", n_predict: 24, n_probs: 3 };
  const { pieces, final } = await streamCompletion(engine.url, req);
  const text = pieces.map((p) => p.content).join("");
  for (const p of pieces) expect((p.completion_probabilities as Entry[]).map((e) => e.token).join("")).toBe(p.content);
  const streamed = pieces.flatMap((p) => p.completion_probabilities as Entry[]);
  expect(streamed).toHaveLength(24); // a byte vocabulary: one entry per token predicted
  expect(final.tokens_predicted).toBe(24);
  checkEntries(streamed, 3, true);
  const whole = (await post(engine.url, "/completion", req)).body as { content: string; completion_probabilities: Entry[] };
  expect(whole.content).toBe(text);
  expect(whole.completion_probabilities).toEqual(streamed);
  // Without n_probs: no entries, the same text.
  const plain = await streamCompletion(engine.url, { prompt: "hello there", n_predict: 24 });
  expect(plain.pieces.map((p) => p.content).join("")).toBe(text);
  expect(plain.pieces.some((p) => "completion_probabilities" in p)).toBe(false);
  expect("completion_probabilities" in ((await post(engine.url, "/completion", { prompt: "hi", n_predict: 4 })).body as object)).toBe(false);
});

test("sampling at a temperature is the same with and without log probabilities", async () => {
  const req = { prompt: "the same prompt", n_predict: 32, temperature: 0.9, seed: 1234 };
  const plain = (await streamCompletion(engine.url, req)).pieces.map((p) => p.content).join("");
  const withProbs = await streamCompletion(engine.url, { ...req, n_probs: 2 });
  expect(withProbs.pieces.map((p) => p.content).join("")).toBe(plain);
  checkEntries(withProbs.pieces.flatMap((p) => p.completion_probabilities as Entry[]), 2, false);
});

test("a stop string spanning tokens: the entries are the tokens of the text before it, each once", async () => {
  const full = ((await post(engine.url, "/completion", { prompt: "stop here", n_predict: 40 })).body as { content: string }).content;
  const stop = full.slice(10, 13);
  const at = full.indexOf(stop);
  const { pieces, final } = await streamCompletion(engine.url, { prompt: "stop here", n_predict: 40, n_probs: 1, stop: [stop] });
  const entries = pieces.flatMap((p) => p.completion_probabilities as Entry[]);
  expect(final).toMatchObject({ stop_type: "word", stopping_word: stop });
  expect(pieces.map((p) => p.content).join("")).toBe(full.slice(0, at));
  expect(entries.map((e) => e.token).join("")).toBe(full.slice(0, at));
  expect(entries).toHaveLength(at); // byte vocabulary, ASCII text: one token per character
  checkEntries(entries, 1, true);
});

test("a grammar with multi-byte characters: each character's bytes go with the piece that completes it", async () => {
  const schema = { type: "string", enum: ["é€😀"] };
  const { pieces } = await streamCompletion(engine.url, { prompt: "say it", n_predict: 40, n_probs: 2, json_schema: schema });
  const text = pieces.map((p) => p.content).join("");
  expect(JSON.parse(text)).toBe("é€😀");
  for (const p of pieces) expect((p.completion_probabilities as Entry[]).map((e) => e.token).join("")).toBe(p.content);
  const euro = pieces.find((p) => p.content === "€")!;
  expect((euro.completion_probabilities as Entry[]).map((e) => e.token)).toEqual(["", "", "€"]);
  const entries = pieces.flatMap((p) => p.completion_probabilities as Entry[]);
  expect(entries).toHaveLength(new TextEncoder().encode(text).length);
  checkEntries(entries, 2, true);
});

test("/v1/chat/completions logprobs and top_logprobs, streamed and not; /v1/completions legacy logprobs", async () => {
  const body = { messages: [{ role: "user", content: "hi" }], max_tokens: 12, logprobs: true, top_logprobs: 2 };
  const whole = (await post(engine.url, "/v1/chat/completions", body)).body as any;
  const content: Entry[] = whole.choices[0].logprobs.content;
  expect(content.map((e) => e.token).join("")).toBe(whole.choices[0].message.content);
  checkEntries(content, 2, true);
  const res = await fetch(`${engine.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ ...body, stream: true }) });
  const chunks = ((await sseEvents(res)) as any[]).filter((c) => c !== "[DONE]" && c.choices[0]?.delta?.content);
  expect(chunks.flatMap((c) => c.choices[0].logprobs.content)).toEqual(content);
  const plain = (await post(engine.url, "/v1/chat/completions", { ...body, logprobs: undefined, top_logprobs: undefined })).body as any;
  expect(plain.choices[0]).toMatchObject({ message: { content: whole.choices[0].message.content }, logprobs: null });

  const legacy = (await post(engine.url, "/v1/completions", { prompt: "hello", max_tokens: 8, logprobs: 2 })).body as any;
  const lp = legacy.choices[0].logprobs;
  expect(lp.tokens.join("")).toBe(legacy.choices[0].text);
  expect(lp.token_logprobs.every((v: number) => Number.isFinite(v) && v <= 0)).toBe(true);
  expect(lp.top_logprobs.every((o: object) => Object.keys(o).length >= 1 && Object.keys(o).length <= 2)).toBe(true);
  expect(lp.text_offset).toEqual(lp.tokens.map((_: string, i: number) => lp.tokens.slice(0, i).join("").length));
});

test("bad requests: top_logprobs without logprobs, too many alternatives", async () => {
  const messages = [{ role: "user", content: "hi" }];
  expect((await post(engine.url, "/v1/chat/completions", { messages, top_logprobs: 2 })).status).toBe(400);
  expect((await post(engine.url, "/v1/chat/completions", { messages, logprobs: true, top_logprobs: 21 })).status).toBe(400);
  expect((await post(engine.url, "/completion", { prompt: "x", n_probs: 21 })).status).toBe(400);
  expect((await post(engine.url, "/v1/completions", { prompt: "x", logprobs: -1 })).status).toBe(400);
});
