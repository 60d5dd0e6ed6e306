// The OpenAI-compatible API (/v1) driven by the official `openai` npm client, unmodified, against
// an in-process cluster: chat and text completions streamed and not, usage and stop reasons,
// the model list, errors in OpenAI's shape (404, 400, 401, 429 with a retry the client honours,
// a stream failing mid-way), and cancel by aborting the request: the engine stops and its slot
// serves the next request. The mock engine's tokens are words; the same seed gives the same words.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI, { APIError, AuthenticationError, BadRequestError, InternalServerError, NotFoundError, RateLimitError } from "openai";
import { MockEngine } from "../../adapters/engines/index.ts";
import type { PoolConfig } from "../../actors/node/config.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect } from "../harness/sse.ts";

const TOKEN = "openai-api-test-token-0123456789";
const auth = { authorization: `Bearer ${TOKEN}` };

function client(c: Cluster, options: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI {
  return new OpenAI({ baseURL: `${c.url}/v1`, apiKey: TOKEN, maxRetries: 0, ...options });
}

/** Resolves when the scheduler has seen `count` more tasks end (canceled, failed or finished). */
function tasksEnded(c: Cluster, count = 1): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    const off = c.control.plane.system.events.on((e) => {
      if (e.type === "delivered" && e.path === "control/scheduler" && e.msg === "task-ended" && ++seen === count) {
        off();
        resolve();
      }
    });
  });
}

/** The native stream of a task (replayed), from an OpenAI id `chatcmpl-<task_id>` / `cmpl-<task_id>`. */
async function nativeFrames(c: Cluster, openAiId: string) {
  const taskId = openAiId.replace(/^(chatcmpl|cmpl)-/, "");
  return (await collect(`${c.url}/v2/tasks/${taskId}/events`, { headers: auth })).frames;
}

const chat = <E extends object = {}>(content: string, extra: E = {} as E) => ({
  model: "tiny",
  messages: [
    { role: "system" as const, content: "You are terse." },
    { role: "user" as const, content },
  ],
  ...extra,
});

describe("against mock engines in process", () => {
  let cluster: Cluster;
  const engines: MockEngine[] = [];
  const engine = () => engines.at(-1)!;

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: [{ id: "n1", pools: [mockPool("p0")] }],
      token: TOKEN,
      control: { capacity: 1, policy: "reject" },
      engineFactory: (_pool, _replica, clock) => {
        const e = new MockEngine({ clock, slots: 1 });
        engines.push(e);
        return e;
      },
    });
    await cluster.ready();
  });
  afterAll(async () => {
    await cluster?.close();
  });
  afterEach(() => {
    engine().faults = {};
  });

  test("chat, not streamed: content, finish_reason length, usage, ids; the same seed gives the same text", async () => {
    const openai = client(cluster);
    const a = await openai.chat.completions.create(chat("Say something.", { max_tokens: 5, seed: 7 }));
    expect(a.object).toBe("chat.completion");
    expect(a.id).toMatch(/^chatcmpl-.+/);
    expect(a.model).toBe("tiny");
    expect(Math.abs(a.created - Date.now() / 1000)).toBeLessThan(60);
    expect(a.choices).toHaveLength(1);
    const choice = a.choices[0]!;
    expect(choice.message.role).toBe("assistant");
    expect(choice.finish_reason).toBe("length");
    expect(choice.message.content!.split(" ")).toHaveLength(5);
    expect(a.usage!.completion_tokens).toBe(5);
    expect(a.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(a.usage!.total_tokens).toBe(a.usage!.prompt_tokens + 5);

    const again = await openai.chat.completions.create(chat("Say something.", { max_tokens: 5, seed: 7 }));
    expect(again.choices[0]!.message.content).toBe(choice.message.content);
    expect(again.id).not.toBe(a.id);
    // max_completion_tokens wins over max_tokens.
    const longer = await openai.chat.completions.create(chat("Say something.", { max_tokens: 5, max_completion_tokens: 8, seed: 7 }));
    expect(longer.usage!.completion_tokens).toBe(8);
    expect(longer.choices[0]!.message.content!.startsWith(choice.message.content!)).toBe(true);
  });

  test("chat, streamed: a role chunk, deltas that join to the non-streamed text, finish_reason, then usage and [DONE]", async () => {
    const openai = client(cluster);
    const whole = await openai.chat.completions.create(chat("Stream to me.", { max_tokens: 6, seed: 11 }));
    const stream = await openai.chat.completions.create(chat("Stream to me.", { max_tokens: 6, seed: 11, stream: true as const, stream_options: { include_usage: true } }));
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: "assistant", content: "" });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks[0]!.id).toMatch(/^chatcmpl-/);
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === "tiny")).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe(whole.choices[0]!.message.content!);
    // One chunk per token, between the role chunk and the finish chunk.
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBe(6);
    const finish = chunks.at(-2)!;
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: "length" });
    expect(chunks.slice(0, -2).every((c) => c.choices[0]!.finish_reason === null && c.usage === null)).toBe(true);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage!);

    // Without include_usage no chunk carries usage.
    const plain = await openai.chat.completions.create(chat("Stream to me.", { max_tokens: 2, seed: 11, stream: true as const }));
    const plainChunks = [];
    for await (const chunk of plain) plainChunks.push(chunk);
    expect(plainChunks.every((c) => c.usage === undefined)).toBe(true);
    expect(plainChunks.at(-1)!.choices[0]!.finish_reason).toBe("length");
  });

  test("the raw stream is `data:` lines ending with data: [DONE]", async () => {
    const res = await fetch(`${cluster.url}/v1/chat/completions`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify(chat("raw", { max_tokens: 2, stream: true })),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(res.headers.get("x-correlation-id")).toBeTruthy();
    const data = (await res.text()).split("\n\n").filter((b) => b.startsWith("data: ")).map((b) => b.slice(6));
    expect(data.at(-1)).toBe("[DONE]");
    expect(data.slice(0, -1).map((d) => JSON.parse(d).object)).toEqual(Array(4).fill("chat.completion.chunk"));
  });

  test("text completions, streamed and not, with echo", async () => {
    const openai = client(cluster);
    const whole = await openai.completions.create({ model: "tiny", prompt: "Once upon a time", max_tokens: 4, seed: 3 });
    expect(whole.object).toBe("text_completion");
    expect(whole.id).toMatch(/^cmpl-/);
    expect(whole.choices[0]!.finish_reason).toBe("length");
    expect(whole.choices[0]!.text.split(" ")).toHaveLength(4);
    expect(whole.usage!.completion_tokens).toBe(4);
    expect(whole.usage!.total_tokens).toBe(whole.usage!.prompt_tokens + 4);
    expect(whole.usage!.prompt_tokens).toBeGreaterThan(0);

    const stream = await openai.completions.create({ model: "tiny", prompt: ["Once upon a time"], max_tokens: 4, seed: 3, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.text ?? "").join("")).toBe(whole.choices[0]!.text);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("length");
    expect(chunks.at(-1)!.usage).toEqual(whole.usage!);

    const echoed = await openai.completions.create({ model: "tiny", prompt: "Once upon a time", max_tokens: 4, seed: 3, echo: true });
    expect(echoed.choices[0]!.text).toBe(`Once upon a time${whole.choices[0]!.text}`);
  });

  test("models: what online pools serve plus the catalog's Active entries; Retired ones are hidden", async () => {
    const openai = client(cluster);
    const post = (path: string, body: unknown) =>
      fetch(`${cluster.url}${path}`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await post("/v2/catalog/models", { id: "catalog-only" })).status).toBe(201);
    expect((await post("/v2/catalog/models", { id: "old-model" })).status).toBe(201);
    expect((await post("/v2/catalog/models/old-model/state", { state: "Retired" })).status).toBeLessThan(300);

    const list = await openai.models.list();
    const ids = list.data.map((m) => m.id);
    expect(ids).toEqual(["catalog-only", "tiny"]);
    for (const m of list.data) {
      expect(m).toMatchObject({ object: "model", owned_by: "llama-orch" });
      expect(Number.isInteger(m.created)).toBe(true);
    }

    // Known to the catalog but served by no node: a 503 the client may retry.
    const unserved = await openai.chat.completions.create(chat("hi", { model: "catalog-only" })).catch((e) => e);
    expect(unserved).toBeInstanceOf(InternalServerError);
    expect(unserved).toMatchObject({ status: 503, code: "model_not_available", type: "server_error", param: "model" });
    expect(unserved.headers.get("retry-after")).toBe("1");

    // Retired: as unknown.
    const retired = await openai.chat.completions.create(chat("hi", { model: "old-model" })).catch((e) => e);
    expect(retired).toBeInstanceOf(NotFoundError);
    expect(retired.message).toContain("retired");
  });

  test("an unknown model is a 404 model_not_found (NotFoundError)", async () => {
    const openai = client(cluster);
    for (const model of ["no-such-model"]) {
      const err = await openai.chat.completions.create(chat("hi", { model })).catch((e) => e);
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err).toMatchObject({ status: 404, code: "model_not_found", type: "invalid_request_error", param: "model" });
    }
  });

  test("bad requests are 400 invalid_request_error naming the param (BadRequestError)", async () => {
    const openai = client(cluster);
    const cases: Array<[Record<string, unknown>, string]> = [
      [chat("hi", { n: 9 }), "n"],
      [chat("hi", { max_tokens: 0 }), "max_tokens"],
      [chat("hi", { temperature: 3 }), "temperature"],
      [chat("hi", { stop: Array.from({ length: 16 }, (_, i) => `s${i}`) }), "stop"],
      [{ model: "tiny", messages: [] }, "messages"],
      [{ model: "tiny", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "http://x/y.png" } }] }] }, "messages.0.content.0"],
    ];
    for (const [body, param] of cases) {
      const err = await openai.chat.completions.create(body as never).catch((e) => e);
      expect(err, param).toBeInstanceOf(BadRequestError);
      expect(err, param).toMatchObject({ status: 400, type: "invalid_request_error", param });
    }
    const completions = await openai.completions.create({ model: "tiny", prompt: [1, 2, 3] } as never).catch((e) => e);
    expect(completions).toBeInstanceOf(BadRequestError);
    expect(completions.param).toBe("prompt");

    // Fields with no effect on the answer are accepted, as OpenAI clients send many.
    const ok = await openai.chat.completions.create(chat("hi", { max_tokens: 1, user: "u1", logprobs: false, n: 1 }));
    expect(ok.choices[0]!.finish_reason).toBe("length");
    // What the pool's engine (the mock) does not honour is refused, naming the parameter, never ignored.
    for (const [extra, param] of [[{ presence_penalty: 0.5 }, "presence_penalty"], [{ logit_bias: { "1": 2 } }, "logit_bias"], [{ logprobs: true }, "logprobs"]] as const) {
      const err = await openai.chat.completions.create(chat("hi", { max_tokens: 1, ...extra } as never)).catch((e) => e);
      expect(err, param).toMatchObject({ status: 400, type: "invalid_request_error", param });
    }

    const notJson = await fetch(`${cluster.url}/v1/completions`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: "{" });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: unknown }).error).toMatchObject({ type: "invalid_request_error", code: "invalid_json" });
  });

  test("a wrong or missing key is 401 in OpenAI's shape (AuthenticationError)", async () => {
    const wrong = await client(cluster, { apiKey: "not-the-token-at-all-0000" }).models.list().catch((e) => e);
    expect(wrong).toBeInstanceOf(AuthenticationError);
    expect(wrong).toMatchObject({ status: 401, code: "invalid_api_key" });
    const missing = await fetch(`${cluster.url}/v1/models`);
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: unknown }).error).toMatchObject({ code: "missing_api_key", type: "invalid_request_error" });
  });

  test("a full queue is 429 with Retry-After (RateLimitError); with retries the client waits and then succeeds", async () => {
    engine().faults = { hangAfterTokens: 1 }; // the running task keeps the only slot until canceled
    const openai = client(cluster);
    const running = await openai.chat.completions.create(chat("hog", { max_tokens: 100, stream: true as const }));
    const it = running[Symbol.asyncIterator]();
    await it.next(); // role
    await it.next(); // first token: it is running
    const queued = await openai.chat.completions.create(chat("wait", { max_tokens: 3, stream: true as const }));

    const refused = await openai.chat.completions.create(chat("no room", { max_tokens: 3 })).catch((e) => e);
    expect(refused).toBeInstanceOf(RateLimitError);
    expect(refused).toMatchObject({ status: 429, code: "rate_limit_exceeded", type: "rate_limit_error" });
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.headers.get("retry-after-ms")).toBe("1000");

    // The same request with one retry: once the 429 is in, the queue is emptied, and the retry
    // (after the advertised second) gets its answer.
    const statuses: number[] = [];
    let first429!: () => void;
    const saw429 = new Promise<void>((resolve) => (first429 = resolve));
    const retrying = client(cluster, {
      maxRetries: 1,
      fetch: async (url: string | URL | Request, init?: RequestInit) => {
        const res = await fetch(url, init);
        statuses.push(res.status);
        if (res.status === 429) first429();
        return res;
      },
    });
    const later = retrying.chat.completions.create(chat("retry me", { max_tokens: 2 }));
    await saw429;
    engine().faults = {};
    const ended = tasksEnded(cluster, 2);
    queued.controller.abort();
    running.controller.abort();
    await ended;
    const answer = await later;
    expect(answer.choices[0]!.finish_reason).toBe("length");
    expect(statuses).toEqual([429, 200]);
  });

  test("aborting a stream cancels the task: the engine stops and the slot serves the next request", async () => {
    engine().faults = { tokenDelayMs: 2 };
    const openai = client(cluster);
    const stream = await openai.chat.completions.create(chat("long story", { max_tokens: 5000, stream: true as const }));
    let id = "";
    let tokens = 0;
    const ended = tasksEnded(cluster);
    for await (const chunk of stream) {
      id = chunk.id;
      if (chunk.choices[0]?.delta.content && ++tokens === 3) break; // leaving the loop aborts the request
    }
    await ended;
    const frames = await nativeFrames(cluster, id);
    expect(frames.at(-1)).toMatchObject({ event: "end", data: { canceled: true } });
    expect(frames.at(-1)!.data.tokens_out).toBeLessThan(5000);

    // The same with an AbortController on a request that is not streamed.
    const controller = new AbortController();
    const aborted = openai.chat.completions.create(chat("another long one", { max_tokens: 5000 }), { signal: controller.signal }).catch((e) => e);
    const started = new Promise<void>((resolve) => {
      const off = cluster.control.plane.system.events.on((e) => {
        if (e.type === "delivered" && e.path.startsWith("control/tasks/") && e.msg === "engine-token") {
          off();
          resolve();
        }
      });
    });
    const endedToo = tasksEnded(cluster);
    await started;
    controller.abort();
    expect(await aborted).toBeInstanceOf(APIError); // APIUserAbortError
    await endedToo;

    // Both would run for 10 s more; the only slot serves the next request at once, so the engine
    // stopped generating them.
    engine().faults = {};
    const next = await openai.chat.completions.create(chat("next", { max_tokens: 3 }));
    expect(next.choices[0]!.message.content!.split(" ")).toHaveLength(3);
    expect(engine().active).toBe(0);
  });

  test("an engine failure mid-stream: the stream raises an APIError; not streamed it is a 500", async () => {
    engine().faults = { failAfterTokens: 2 };
    const openai = client(cluster);
    const stream = await openai.chat.completions.create(chat("fail", { max_tokens: 10, stream: true as const }));
    const texts: string[] = [];
    const err = await (async () => {
      for await (const chunk of stream) texts.push(chunk.choices[0]?.delta.content ?? "");
    })().catch((e) => e);
    expect(err).toBeInstanceOf(APIError);
    expect(err.code).toBe("internal");
    expect(texts.filter(Boolean)).toHaveLength(2);

    const whole = await openai.completions.create({ model: "tiny", prompt: "fail", max_tokens: 10 }).catch((e) => e);
    expect(whole).toBeInstanceOf(InternalServerError);
    expect(whole).toMatchObject({ status: 500, code: "internal", type: "server_error" });
  });
});

describe("against the mock llama-server child process", () => {
  let cluster: Cluster;
  const pool: PoolConfig = { id: "p0", engine: "mock-server", model: "tiny", devices: [], slots: 1, allow_cpu: true };

  beforeAll(async () => {
    cluster = await startCluster({
      nodes: [{ id: "n1", pools: [pool] }],
      token: TOKEN,
      node: { healthIntervalMs: 50, healthTimeoutMs: 1000, stopGraceMs: 1000, engineReadyTimeoutMs: 10_000 },
    });
    await cluster.ready();
  });
  afterAll(async () => {
    await cluster?.close();
  });

  test("a stop sequence ends the text before it with finish_reason stop, streamed and not", async () => {
    const openai = client(cluster);
    const free = await openai.chat.completions.create(chat("Tell me more.", { max_tokens: 8, seed: 5 }));
    const text = free.choices[0]!.message.content!;
    expect(free.choices[0]!.finish_reason).toBe("length");
    const words = text.split(" ");
    expect(words).toHaveLength(8);
    const stop = ` ${words[4]}`;
    const before = text.slice(0, text.indexOf(stop));

    const stopped = await openai.chat.completions.create(chat("Tell me more.", { max_tokens: 8, seed: 5, stop }));
    expect(stopped.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: before } });
    expect(stopped.usage!.completion_tokens).toBe(before.split(" ").length);

    const stream = await openai.chat.completions.create(chat("Tell me more.", { max_tokens: 8, seed: 5, stop: [stop], stream: true as const }));
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe(before);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe("stop");
  });
});
