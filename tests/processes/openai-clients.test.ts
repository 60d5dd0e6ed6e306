// The client libraries people point at an OpenAI-compatible server, unmodified, against real
// processes: `bun run control` and `bun run node --model tiny-llama.gguf --allow-cpu` (the
// built-in engine, real llama.cpp on the tiny model; its text is gibberish, so the tests check
// shapes, counts and agreement, not words). The official `openai` client (models.retrieve,
// embeddings.create, responses.create plain and streamed), the Vercel AI SDK (generateText and
// streamText with the default `openai(...)` provider, which calls /v1/responses, and with
// @ai-sdk/openai-compatible, which calls /v1/chat/completions; embed, embedMany) and LangChain JS
// (ChatOpenAI invoke and stream, OpenAIEmbeddings.embedQuery).

import { expect, test } from "bun:test";
import OpenAI from "openai";
import { embed, embedMany, generateText, streamText } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { TINY_MODEL, useBuiltinPair } from "../harness/builtin-pair.ts";

const MODEL = TINY_MODEL;
const served = useBuiltinPair();

const openai = () => new OpenAI({ baseURL: `${served.base}/v1`, apiKey: "unused", maxRetries: 0 });

test("openai: models.retrieve, embeddings.create, responses.create (plain and streamed)", async () => {
  const client = openai();
  expect(await client.models.retrieve(MODEL)).toMatchObject({ id: MODEL, object: "model" });

  const e = await client.embeddings.create({ model: MODEL, input: ["hello world", "another text"] });
  expect(e.data).toHaveLength(2);
  const dims = e.data[0]!.embedding.length;
  expect(dims).toBeGreaterThan(0);
  expect(e.data[1]!.embedding).toHaveLength(dims);
  expect(e.data[0]!.embedding.every(Number.isFinite)).toBe(true);
  expect(e.usage.prompt_tokens).toBeGreaterThan(0);
  const again = await client.embeddings.create({ model: MODEL, input: "hello world", encoding_format: "float" });
  for (let i = 0; i < dims; i++) expect(Math.abs(again.data[0]!.embedding[i]! - e.data[0]!.embedding[i]!)).toBeLessThan(1e-5);

  const r = await client.responses.create({ model: MODEL, input: "hello", instructions: "Be brief.", max_output_tokens: 8 });
  expect(r.object).toBe("response");
  expect(["completed", "incomplete"]).toContain(r.status!);
  expect(r.usage!.output_tokens).toBeGreaterThan(0);
  expect(r.usage!.output_tokens).toBeLessThanOrEqual(8);

  // Greedy decoding: the stream carries the same text.
  const stream = client.responses.stream({ model: MODEL, input: "hello", instructions: "Be brief.", max_output_tokens: 8 });
  let text = "";
  for await (const ev of stream) if (ev.type === "response.output_text.delta") text += ev.delta;
  const final = await stream.finalResponse();
  expect(text).toBe(r.output_text);
  expect(final.output_text).toBe(r.output_text);
}, 60_000);

test("Vercel AI SDK: the default provider (/v1/responses) and openai-compatible (/v1/chat/completions); embed, embedMany", async () => {
  const provider = createOpenAI({ baseURL: `${served.base}/v1`, apiKey: "unused" });
  const viaResponses = await generateText({ model: provider(MODEL), prompt: "hello", maxOutputTokens: 6, maxRetries: 0 });
  expect(viaResponses.response.id).toMatch(/^resp_/);
  expect(viaResponses.usage.outputTokens).toBeGreaterThan(0);
  expect(viaResponses.usage.outputTokens).toBeLessThanOrEqual(6);
  const streamed = streamText({ model: provider(MODEL), prompt: "hello", maxOutputTokens: 6, maxRetries: 0 });
  let text = "";
  for await (const piece of streamed.textStream) text += piece;
  expect(text).toBe(viaResponses.text);
  expect((await streamed.usage).outputTokens).toBe(viaResponses.usage.outputTokens);

  const compatible = createOpenAICompatible({ name: "llama-orch", baseURL: `${served.base}/v1`, apiKey: "unused", includeUsage: true });
  const viaChat = await generateText({ model: compatible.chatModel(MODEL), prompt: "hello", maxOutputTokens: 6, maxRetries: 0 });
  expect(viaChat.response.id).toMatch(/^chatcmpl-/);
  expect(viaChat.usage.outputTokens).toBeGreaterThan(0);
  const chatStream = streamText({ model: compatible.chatModel(MODEL), prompt: "hello", maxOutputTokens: 6, maxRetries: 0 });
  let chatText = "";
  for await (const piece of chatStream.textStream) chatText += piece;
  expect(chatText).toBe(viaChat.text);

  const one = await embed({ model: provider.embedding(MODEL), value: "hello world", maxRetries: 0 });
  expect(one.embedding.length).toBeGreaterThan(0);
  const many = await embedMany({ model: compatible.embeddingModel(MODEL), values: ["hello world", "x y"], maxRetries: 0 });
  expect(many.embeddings).toHaveLength(2);
  for (let i = 0; i < one.embedding.length; i++) expect(Math.abs(many.embeddings[0]![i]! - one.embedding[i]!)).toBeLessThan(1e-5);
}, 60_000);

test("LangChain JS: ChatOpenAI invoke and stream, OpenAIEmbeddings.embedQuery", async () => {
  const chat = new ChatOpenAI({ model: MODEL, apiKey: "unused", configuration: { baseURL: `${served.base}/v1` }, maxTokens: 6, temperature: 0, maxRetries: 0 });
  const answer = await chat.invoke("hello");
  expect(typeof answer.content).toBe("string");
  expect(answer.usage_metadata?.output_tokens).toBeGreaterThan(0);
  let streamed = "";
  for await (const chunk of await chat.stream("hello")) streamed += chunk.content as string;
  expect(streamed).toBe(answer.content as string);

  const embeddings = new OpenAIEmbeddings({ model: MODEL, apiKey: "unused", configuration: { baseURL: `${served.base}/v1` }, maxRetries: 0 });
  const v = await embeddings.embedQuery("hello world");
  expect(v.length).toBeGreaterThan(0);
  expect(v.every(Number.isFinite)).toBe(true);
}, 60_000);
