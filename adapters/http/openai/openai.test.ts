// Units of the OpenAI surface: the chat template, request → task mapping, error mapping, the
// response objects, the `data:` stream (order, [DONE], a reader that leaves cancels), and the
// routes' own middleware (a thrown handler, the body limit) inside control-app.

import { describe, expect, test } from "bun:test";
import { Registry } from "prom-client";
import { createLogger, SimClock } from "../../../runtime/index.ts";
import { createControlApp } from "../control-app.ts";
import type { ControlPort, StreamSink, Subscription } from "../../../contract/index.ts";
import { chatMessages } from "./chat-messages.ts";
import { fromEnvelope } from "./errors.ts";
import { deltaChunk, deltaLine, finishReason, replyId, usageOf, type ReplyInfo } from "./render.ts";
import { fromChat, fromCompletion } from "./request.ts";
import { registerOpenAiRoutes } from "./routes.ts";
import { ChatCompletionRequest, CompletionRequest } from "./schemas.ts";
import { chunkSink, createChunkStream } from "./stream.ts";

describe("chatMessages", () => {
  test("maps roles and flattens text parts; nothing is rendered", () => {
    const out = chatMessages([
      { role: "developer", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "Hi " }, { type: "text", text: "there" }], name: "ann" },
      { role: "assistant", content: null },
      { role: "function", content: "42" },
    ]);
    expect(out).toEqual({
      ok: true,
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi there" },
        { role: "assistant", content: "" },
        { role: "tool", content: "42" },
      ],
    });
  });

  test("refuses non-text content parts, naming where", () => {
    const out = chatMessages([{ role: "user", content: "a" }, { role: "user", content: [{ type: "text", text: "x" }, { type: "image_url" }] }]);
    expect(out).toMatchObject({ ok: false, param: "messages.1.content.1" });
  });
});

describe("request mapping", () => {
  test("a chat request becomes an interactive task with our defaults, carrying the messages (no prompt, no template stop)", () => {
    const req = ChatCompletionRequest.parse({ model: "m", messages: [{ role: "user", content: "q" }], stop: "END", seed: 4, temperature: 0.5, top_p: null, user: "x" });
    const out = fromChat(req);
    expect(out.ok).toBe(true);
    if (!out.ok) return;
    expect(out.value.task).toMatchObject({ model_ref: "m", max_tokens: 256, priority: "interactive", seed: 4, temperature: 0.5, stop: ["END"], prompt: "", messages: [{ role: "user", content: "q" }] });
    expect(out.value.task).not.toHaveProperty("top_p");
    expect(out.value).toMatchObject({ stream: false, includeUsage: false, echo: "" });
  });

  test("completions: a one-string array prompt, echo, include_usage, ignore_eos", () => {
    const req = CompletionRequest.parse({ model: "m", prompt: ["p"], echo: true, max_tokens: 9, stream: true, stream_options: { include_usage: true }, ignore_eos: true });
    const out = fromCompletion(req);
    expect(out.ok && out.value).toMatchObject({ echo: "p", stream: true, includeUsage: true, task: { prompt: "p", max_tokens: 9, ignore_eos: true } });
  });

  test("native bounds still hold (prompt size)", () => {
    const out = fromCompletion(CompletionRequest.parse({ model: "m", prompt: "x".repeat(1_000_001) }));
    expect(out).toMatchObject({ ok: false, param: null });
  });
});

describe("errors", () => {
  test("429 carries Retry-After, retry-after-ms and X-Backoff-Ms; codes are OpenAI's or ours in lower case", () => {
    const busy = fromEnvelope({ code: "ADMISSION_REJECT", message: "queue full", retry_after_ms: 2500 });
    expect(busy).toEqual({
      status: 429,
      body: { error: { message: "queue full", type: "rate_limit_error", param: null, code: "rate_limit_exceeded" } },
      headers: { "Retry-After": "3", "X-Backoff-Ms": "2500", "retry-after-ms": "2500" },
    });
    expect(fromEnvelope({ code: "WORKER_RESET", message: "gone" })).toMatchObject({ status: 500, body: { error: { type: "server_error", code: "worker_reset" } }, headers: {} });
    expect(fromEnvelope({ code: "BAD_TOKEN", message: "no" }).body.error.code).toBe("invalid_api_key");
  });
});

describe("render", () => {
  test("finish reason and usage", () => {
    expect(finishReason({ tokens_out: 3, decode_ms: 1, decode_time_ms: 1, stop_reason: "stop" }, 10)).toBe("stop");
    expect(finishReason({ tokens_out: 10, decode_ms: 1, decode_time_ms: 1 }, 10)).toBe("length");
    expect(finishReason({ tokens_out: 4, decode_ms: 1, decode_time_ms: 1 }, 10)).toBe("stop");
    const end = { tokens_out: 5, decode_ms: 1, decode_time_ms: 1 };
    expect(usageOf(8, undefined, end)).toEqual({ prompt_tokens: 2, completion_tokens: 5, total_tokens: 7 });
    const reported = { queue_position: 0, predicted_start_ms: 0, tokens_in: 11 } as never;
    expect(usageOf(8, reported, end).prompt_tokens).toBe(11);
    expect(replyId("text", "t1")).toBe("cmpl-t1");
  });
});

describe("chunk stream", () => {
  const reply: ReplyInfo = { kind: "chat", id: "chatcmpl-t", created: 1, model: "m", includeUsage: true };
  const read = async (body: ReadableStream<Uint8Array>) => (await new Response(body).text()).split("\n\n").filter(Boolean);

  test("role, tokens, finish, usage, [DONE]; metrics are left out; nothing after the end", async () => {
    const stream = createChunkStream(new AbortController().signal);
    const sink = chunkSink({ reply, promptChars: 4, maxTokens: 2, echo: "" }, stream);
    sink.push({ type: "started", data: { queue_position: 0, predicted_start_ms: 0 } });
    sink.push({ type: "token", data: { t: "a", i: 0 } });
    sink.push({ type: "metrics", data: { queue_depth: 0, on_time_probability: 1, kv_warmth: false, tokens_budget_remaining: 1, time_budget_remaining_ms: 1, cost_budget_remaining: 1 } });
    sink.push({ type: "token", data: { t: " b", i: 1 } });
    sink.push({ type: "end", data: { tokens_out: 2, decode_ms: 1, decode_time_ms: 1, stop_reason: "length" } });
    sink.push({ type: "token", data: { t: "late", i: 2 } });
    const lines = await read(stream.body);
    expect(lines[0]).toBe(": stream open");
    const data = lines.slice(1).map((l) => l.replace(/^data: /, ""));
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    expect(chunks.map((c) => c.choices[0]?.delta ?? null)).toEqual([{ role: "assistant", content: "" }, { content: "a" }, { content: " b" }, {}, null]);
    expect(chunks[3].choices[0].finish_reason).toBe("length");
    expect(chunks[4].usage).toEqual({ prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 });
  });

  test("a failure after the start is one error line, without [DONE]", async () => {
    const stream = createChunkStream(new AbortController().signal);
    const sink = chunkSink({ reply: { ...reply, includeUsage: false }, promptChars: 0, maxTokens: 2, echo: "" }, stream);
    sink.push({ type: "error", data: { code: "WORKER_RESET", message: "engine died" } });
    const lines = await read(stream.body);
    expect(JSON.parse(lines.at(-1)!.slice(6))).toEqual({ error: { message: "engine died", type: "server_error", param: null, code: "worker_reset" } });
    expect(lines.some((l) => l.includes("[DONE]"))).toBe(false);
  });

  test("a client that leaves unsubscribes with cancelIfLast, also when it left before the subscription", () => {
    const calls: unknown[] = [];
    const subscription: Subscription = { unsubscribe: (o) => calls.push(o) };
    const abort = new AbortController();
    const stream = createChunkStream(abort.signal);
    stream.attach(subscription);
    abort.abort();
    expect(calls).toEqual([{ cancelIfLast: true }]);

    const early = new AbortController();
    const late = createChunkStream(early.signal);
    early.abort();
    late.attach(subscription);
    expect(calls).toHaveLength(2);
    const sink: StreamSink = chunkSink({ reply, promptChars: 0, maxTokens: 1, echo: "" }, late);
    expect(() => sink.push({ type: "token", data: { t: "x", i: 0 } })).not.toThrow();
  });
});

describe("routes", () => {
  test("a control plane that throws is a 500 in OpenAI's shape; a body over the limit is a 413", async () => {
    const port = {
      submit: async () => {
        throw new Error("scheduler unreachable");
      },
    } as unknown as ControlPort;
    const app = createControlApp({
      port,
      registry: new Registry(),
      log: createLogger({ clock: new SimClock(), sink: () => {} }),
      version: "test",
      routes: [(a) => registerOpenAiRoutes(a, { port, catalog: { list: async () => [], get: async () => undefined } })],
    });
    const res = await app.request("/v1/completions", { method: "POST", body: JSON.stringify({ model: "m", prompt: "p" }) });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { message: "internal error", type: "server_error", param: null, code: "internal" } });
    expect(res.headers.get("x-correlation-id")).toBeTruthy();

    const big = await app.request("/v1/completions", { method: "POST", body: JSON.stringify({ model: "m", prompt: "x".repeat(5 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe("invalid_params");
  });
});

test("a token's data: line is built from a template, byte for byte what serialising its chunk gives", () => {
  const texts = ["hello", "", " \"quoted\" \\ back", "new\nline\ttab", "émoji 🦙", "\u0000nul", "</script>", "\u2028"];
  for (const kind of ["chat", "text"] as const) {
    for (const includeUsage of [false, true]) {
      const r: ReplyInfo = { kind, id: replyId(kind, "t-1"), created: 1_700_000_000, model: "m\"odel", includeUsage };
      const line = deltaLine(r);
      for (const t of texts) expect(line(t)).toBe(`data: ${JSON.stringify(deltaChunk(r, t))}\n\n`);
    }
  }
});
