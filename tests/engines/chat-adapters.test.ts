// Every engine adapter takes a chat task (`messages`) to where the server applies the model's
// template, and renders nothing itself: the OpenAI-compatible stand-in (vLLM/SGLang) and TGI's
// messages API get the messages on /v1/chat/completions; llama-server's chat endpoint is tested
// against the mock engine program (a real child process), whose fixed template and the in-process
// mock's are the same, so a chat gives the same stream as the prompt it renders to.

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlamaCppEngine, MockEngine, OpenAiEngine, renderMockChat, TgiEngine, type EngineAdapter, type EngineEvent, type EngineRequest } from "../../adapters/engines/index.ts";
import { RealClock } from "../../runtime/index.ts";
import { freePort, spawnEngine, stopGroup, waitHealthy, type EngineProcess } from "../../host/process/index.ts";
import { mockEngineArgv } from "../../engines/mock-server/main.ts";
import { standinTokens, startOpenAiStandin, type OpenAiStandin } from "../fixtures/openai-server.ts";
import { startTgiStandin, tgiStandinTemplate, type TgiStandin } from "../fixtures/tgi-server.ts";

const MESSAGES: NonNullable<EngineRequest["messages"]> = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Hi there" },
];

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function collect(adapter: EngineAdapter, request: Omit<EngineRequest, "task_id">): Promise<EngineEvent[]> {
  const events: EngineEvent[] = [];
  for await (const e of adapter.submit({ task_id: "t1", ...request }, new AbortController().signal)) events.push(e);
  return events;
}
const text = (events: EngineEvent[]) => events.flatMap((e) => (e.type === "token" ? [e.t] : [])).join("");

describe("OpenAI-compatible servers (vLLM, SGLang)", () => {
  test("a chat task goes to /v1/chat/completions with its messages, whatever `api` says; prompt tasks keep /v1/completions", async () => {
    const s: OpenAiStandin = startOpenAiStandin({ flavor: "vllm" });
    closers.push(() => s.close());
    const adapter = new OpenAiEngine({ baseUrl: s.url, model: "standin-model", api: "completions" });
    const events = await collect(adapter, { prompt: "", messages: MESSAGES, max_tokens: 4, seed: 3 });
    const chat = s.requests.find((r) => r.method === "POST")!;
    expect(chat.path).toBe("/v1/chat/completions");
    expect(chat.body).toMatchObject({ model: "standin-model", messages: MESSAGES, max_tokens: 4, seed: 3, stream: true, stream_options: { include_usage: true } });
    expect(chat.body).not.toHaveProperty("prompt");
    expect(events.at(-1)).toMatchObject({ type: "end", tokens_out: 4, stop_reason: "length" });
    expect((events.at(-1) as { tokens_in?: number }).tokens_in).toBeGreaterThan(0); // the usage's prompt_tokens

    await collect(adapter, { prompt: "plain", max_tokens: 2 });
    expect(s.requests.filter((r) => r.method === "POST").map((r) => r.path)).toEqual(["/v1/chat/completions", "/v1/completions"]);
  });
});

describe("TGI", () => {
  test("a chat task uses the messages API; greedy sends no temperature; the stream is the rendered chat's", async () => {
    const s: TgiStandin = startTgiStandin();
    closers.push(() => s.close());
    const adapter = new TgiEngine({ baseUrl: s.url });
    const events = await collect(adapter, { prompt: "", messages: MESSAGES, max_tokens: 3, seed: 5, temperature: 0 });
    const req = s.requests.find((r) => r.method === "POST")!;
    expect(req.path).toBe("/v1/chat/completions");
    expect(req.body).toEqual({ model: "tgi", messages: MESSAGES, max_tokens: 3, seed: 5, stream: true, stream_options: { include_usage: true } });
    const tokens = standinTokens(tgiStandinTemplate(MESSAGES), 5);
    expect(text(events)).toBe([tokens.next().value, tokens.next().value, tokens.next().value].join(""));
    expect(events.at(-1)).toMatchObject({ type: "end", tokens_out: 3, stop_reason: "length", tokens_in: tgiStandinTemplate(MESSAGES).split(/\s+/).filter(Boolean).length + 1 });
  });

  test("an error inside the chat stream ends it with TGI's error type mapped", async () => {
    const s = startTgiStandin({ faults: { errorAfterTokens: 1 } });
    closers.push(() => s.close());
    const adapter = new TgiEngine({ baseUrl: s.url });
    const error = await collect(adapter, { prompt: "", messages: MESSAGES, max_tokens: 5 }).catch((e) => e);
    expect(error).toMatchObject({ code: "WORKER_RESET" });
    expect(String(error.message)).toContain("CUDA out of memory");
  });
});

describe("mock engines: one fixed template, the same in-process and in the program", () => {
  test("the in-process mock renders the chat and streams what the rendered prompt streams", async () => {
    const mock = new MockEngine({ clock: new RealClock() });
    const chat = await collect(mock, { prompt: "", messages: MESSAGES, max_tokens: 6, seed: 2 });
    const plain = await collect(mock, { prompt: renderMockChat(MESSAGES), max_tokens: 6, seed: 2 });
    expect(renderMockChat(MESSAGES)).toBe("<|system|>\nBe brief.\n<|user|>\nHi there\n<|assistant|>\n");
    expect(text(chat)).toBe(text(plain));
    expect(chat[0]).toMatchObject({ type: "started", tokens_in: renderMockChat(MESSAGES).length });
  });

  test("the mock engine program serves /v1/chat/completions (llama-server's chat endpoint) for the llama.cpp adapter", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llorch-chat-mock-"));
    const port = freePort();
    const proc: EngineProcess = spawnEngine({ argv: mockEngineArgv(["--port", String(port)]), logPath: join(dir, "engine.log"), pidPath: join(dir, "engine.pid") });
    closers.push(async () => (await stopGroup(proc, { graceMs: 200 }), rmSync(dir, { recursive: true, force: true })));
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(url, { intervalMs: 20, exited: proc.exited });
    const adapter = new LlamaCppEngine({ baseUrl: url });
    const chat = await collect(adapter, { prompt: "", messages: MESSAGES, max_tokens: 5, seed: 4 });
    const plain = await collect(adapter, { prompt: renderMockChat(MESSAGES), max_tokens: 5, seed: 4 });
    expect(text(chat)).toBe(text(plain));
    expect(text(chat).length).toBeGreaterThan(0);
    const chatEnd = chat.at(-1) as Extract<EngineEvent, { type: "end" }>;
    const plainEnd = plain.at(-1) as Extract<EngineEvent, { type: "end" }>;
    expect(chatEnd).toMatchObject({ type: "end", tokens_out: 5, stop_reason: "length" });
    // The same rendered text, so the same prompt count (the mock counts words, plus one).
    expect(chatEnd.tokens_in).toBe(plainEnd.tokens_in);
    expect(chatEnd.tokens_in).toBe(renderMockChat(MESSAGES).split(/\s+/).filter(Boolean).length + 1);

    const bad = await fetch(`${url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ messages: [] }) });
    expect(bad.status).toBe(400);
  });
});
