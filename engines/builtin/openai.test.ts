// The engine's OpenAI-compatible routes on the tiny model: chat and text completions, streamed
// (chunks, finish chunk, usage chunk, [DONE]) and not (usage), /v1/models, OpenAI-shaped refusals.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { ensureTinyModel } from "../tiny-model/tiny-gguf.ts";
import { parseBuiltinEngineFlags } from "./flags.ts";
import { startBuiltinEngine, type BuiltinEngineHandle } from "./server.ts";
import { post, sseEvents } from "../../tests/fixtures/builtin-client.ts";

let engine: BuiltinEngineHandle;

beforeAll(async () => {
  engine = startBuiltinEngine(parseBuiltinEngineFlags(["--model", ensureTinyModel().path, "--port", "0", "--cpu", "--ctx", "512", "--alias", "tiny"]), { log: () => {} });
  await engine.ready;
});

afterAll(async () => {
  await engine?.stop();
});

const stream = async (path: string, body: object) => sseEvents(await fetch(`${engine.url}${path}`, { method: "POST", body: JSON.stringify({ ...body, stream: true }) })) as Promise<any[]>;
const messages = [
  { role: "system", content: "You are terse." },
  { role: "user", content: [{ type: "text", text: "Say " }, { type: "text", text: "something." }] },
];

test("chat completion, not streamed: an assistant message, finish_reason and usage", async () => {
  const res = await post(engine.url, "/v1/chat/completions", { model: "tiny", messages, max_tokens: 8 });
  expect(res.status).toBe(200);
  const body = res.body as any;
  expect(body).toMatchObject({ object: "chat.completion", model: "tiny", choices: [{ index: 0, message: { role: "assistant" }, finish_reason: "length" }] });
  expect(body.id).toMatch(/^chatcmpl-/);
  expect(body.usage.completion_tokens).toBe(8);
  expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + 8);
  // The model's ChatML template was applied: the prompt is far longer than the message text.
  expect(body.usage.prompt_tokens).toBeGreaterThan("You are terse.Say something.".length + 20);
});

test("chat completion, streamed: role first, content deltas, finish chunk, usage chunk, [DONE]", async () => {
  const whole = ((await post(engine.url, "/v1/chat/completions", { messages, max_tokens: 8 })).body as any).choices[0].message.content;
  const events = await stream("/v1/chat/completions", { messages, max_tokens: 8, stream_options: { include_usage: true } });
  expect(events.at(-1)).toBe("[DONE]");
  const chunks = events.slice(0, -1);
  expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.id === chunks[0].id)).toBe(true);
  expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
  const usage = chunks.at(-1);
  expect(usage).toMatchObject({ choices: [], usage: { completion_tokens: 8 } });
  const finish = chunks.at(-2);
  expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: "length" });
  const deltas = chunks.slice(1, -2).map((c) => c.choices[0].delta.content);
  expect(deltas.join("")).toBe(whole);
  // Without include_usage there is no usage chunk.
  const plain = await stream("/v1/chat/completions", { messages, max_tokens: 3 });
  expect(plain.some((c) => c !== "[DONE]" && c.usage)).toBe(false);
});

test("text completions: streamed pieces join to the non-streamed text; a stop string gives finish_reason stop", async () => {
  const whole = (await post(engine.url, "/v1/completions", { prompt: "once upon", max_tokens: 30 })).body as any;
  expect(whole).toMatchObject({ object: "text_completion", choices: [{ index: 0, finish_reason: "length", logprobs: null }], usage: { completion_tokens: 30 } });
  const events = await stream("/v1/completions", { prompt: "once upon", max_tokens: 30 });
  expect(events.at(-1)).toBe("[DONE]");
  expect(events.slice(0, -1).map((c) => c.choices[0].text).join("")).toBe(whole.choices[0].text);
  const word = whole.choices[0].text.slice(10, 12);
  const stopped = (await post(engine.url, "/v1/completions", { prompt: "once upon", max_tokens: 30, stop: word })).body as any;
  expect(stopped.choices[0]).toMatchObject({ text: whole.choices[0].text.slice(0, whole.choices[0].text.indexOf(word)), finish_reason: "stop" });
});

test("/v1/models lists the model under its alias with its context", async () => {
  const body = (await (await fetch(`${engine.url}/v1/models`)).json()) as any;
  expect(body).toMatchObject({ object: "list", data: [{ id: "tiny", object: "model", owned_by: "llamacpp", meta: { n_ctx: 512, n_ctx_train: 8192, n_vocab: 258 } }] });
});

test("refusals: several choices, non-text content, unknown roles, missing messages", async () => {
  const cases: [string, object, string][] = [
    ["/v1/chat/completions", { messages, n: 2 }, '"n" must be 1'],
    ["/v1/chat/completions", { messages: [{ role: "user", content: [{ type: "image_url", image_url: {} }] }] }, "only text parts"],
    ["/v1/chat/completions", { messages: [{ role: "wizard", content: "hi" }] }, "must be system, developer, user, assistant or tool"],
    ["/v1/chat/completions", { messages: [] }, '"messages" must be a non-empty array'],
    ["/v1/completions", { prompt: ["a", "b"] }, "several prompts is not supported"],
  ];
  for (const [path, body, message] of cases) {
    const res = await post(engine.url, path, body);
    expect(res.status).toBe(400);
    expect((res.body as any).error).toMatchObject({ code: 400, type: "invalid_request_error" });
    expect((res.body as any).error.message).toContain(message);
  }
});
