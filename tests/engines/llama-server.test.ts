// The engine adapters against a real llama.cpp `llama-server` (built offline by
// scripts/build-llama-server.ts) serving the tiny model on one CPU thread: the llama.cpp adapter on
// /completion, the OpenAI-compatible adapter on /v1/completions and /v1/chat/completions, cancel,
// and a server started with --api-key. Skips, saying why, when the build is absent.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LlamaCppEngine } from "../../adapters/engines/llamacpp.ts";
import { OpenAiEngine } from "../../adapters/engines/openai.ts";
import type { EngineAdapter, EngineError, EngineEvent, EngineRequest } from "../../adapters/engines/types.ts";
import { ensureTinyModel } from "../../engines/tiny-model/tiny-gguf.ts";
import { LLAMA_SERVER_MISSING, llamaServerPath, startLlamaServer, type LlamaServer } from "../harness/llama-server.ts";

const built = llamaServerPath() !== undefined;
if (!built) console.warn(LLAMA_SERVER_MISSING);

const ALIAS = "tiny";
const KEY = "sk-real-server-key-0123456789";

async function collect(adapter: EngineAdapter, req: EngineRequest, signal = new AbortController().signal) {
  const events: EngineEvent[] = [];
  try {
    for await (const e of adapter.submit(req, signal)) events.push(e);
    return { events, error: undefined };
  } catch (error) {
    return { events, error: error as EngineError };
  }
}
const text = (events: EngineEvent[]) => events.flatMap((e) => (e.type === "token" ? [e.t] : [])).join("");
const last = (events: EngineEvent[]) => events[events.length - 1];
const request = (over: Partial<EngineRequest> = {}): EngineRequest => ({ task_id: "r1", prompt: "Once upon a time", max_tokens: 24, seed: 42, ignore_eos: true, ...over });

describe.skipIf(!built)("real llama-server", () => {
  let server: LlamaServer;
  let keyed: LlamaServer;
  beforeAll(async () => {
    const model = ensureTinyModel();
    // ctx 8192 so a canceled 8000-token request could not end by itself during the test; --metrics
    // to count the tokens the server actually generated.
    server = await startLlamaServer({ model: model.path, alias: ALIAS, ctx: 8192, extraArgs: ["--metrics"] });
    keyed = await startLlamaServer({ model: model.path, alias: ALIAS, apiKey: KEY });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await keyed?.stop();
  });

  test("llama.cpp adapter: a chat task goes to /v1/chat/completions and the server applies the model's template", async () => {
    const adapter = new LlamaCppEngine({ baseUrl: server.url });
    const messages: EngineRequest["messages"] = [{ role: "user", content: "hello" }];
    const chat = await collect(adapter, request({ prompt: "", messages, max_tokens: 4 }));
    expect(chat.error).toBeUndefined();
    // The server's own rendering of the tiny model's ChatML template, evaluated as a prompt, streams the same.
    const applied = (await (await fetch(`${server.url}/apply-template`, { method: "POST", body: JSON.stringify({ messages }) })).json()) as { prompt: string };
    expect(applied.prompt).toBe("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n");
    const plain = await collect(adapter, request({ prompt: applied.prompt, max_tokens: 4 }));
    expect(text(chat.events)).toBe(text(plain.events));
    expect(last(chat.events)).toMatchObject({ type: "end", tokens_out: 4, tokens_in: (last(plain.events) as { tokens_in?: number }).tokens_in });
  });

  test("llama.cpp adapter: health, props, a deterministic stream to max_tokens", async () => {
    const adapter = new LlamaCppEngine({ baseUrl: server.url });
    expect(await adapter.health()).toEqual({ live: true, ready: true });
    const props = await adapter.props();
    expect(props).toMatchObject({ slots_total: 1, ctx_max: 8192 });
    expect(adapter.version()).toMatch(/^llamacpp-/);

    const a = await collect(adapter, request());
    const b = await collect(adapter, request());
    expect(a.error).toBeUndefined();
    expect(a.events[0]).toMatchObject({ type: "started" });
    expect(last(a.events)).toMatchObject({ type: "end", tokens_out: 24, stop_reason: "length" });
    expect(text(a.events).length).toBeGreaterThan(0);
    expect(text(b.events)).toBe(text(a.events));
  });

  test("llama.cpp adapter: cancel stops the server's generation", async () => {
    await expectCancelStopsGeneration(new LlamaCppEngine({ baseUrl: server.url }));
  });

  test("OpenAI adapter on /v1/completions: models, usage, and the same greedy text as /completion", async () => {
    const adapter = new OpenAiEngine({ baseUrl: `${server.url}/v1`, model: ALIAS });
    expect(await adapter.health()).toEqual({ live: true, ready: true });
    expect(await adapter.props()).toEqual({ ctx_max: 8192 }); // from /v1/models meta.n_ctx
    expect(adapter.version()).toBe("openai-llamacpp");

    const viaV1 = await collect(adapter, request());
    expect(viaV1.error).toBeUndefined();
    expect(last(viaV1.events)).toMatchObject({ type: "end", tokens_out: 24, stop_reason: "length" });
    const native = await collect(new LlamaCppEngine({ baseUrl: server.url }), request());
    expect(text(viaV1.events)).toBe(text(native.events));
  });

  test("OpenAI adapter on /v1/chat/completions: deltas and usage", async () => {
    const adapter = new OpenAiEngine({ baseUrl: server.url, model: ALIAS, api: "chat" });
    const { events, error } = await collect(adapter, request({ max_tokens: 12 }));
    expect(error).toBeUndefined();
    expect(events.filter((e) => e.type === "token").length).toBeGreaterThan(0);
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 12, stop_reason: "length" });
  });

  test("OpenAI adapter: cancel stops the server's generation", async () => {
    await expectCancelStopsGeneration(new OpenAiEngine({ baseUrl: server.url, model: ALIAS }));
  });

  /**
   * Cancels an 8000-token request after 5 tokens, then runs a 4-token one. With one slot the second
   * starts only once the first has let go, so by its end the server's token counter has settled:
   * far fewer than 8000 tokens means the server stopped generating when the stream closed.
   */
  async function expectCancelStopsGeneration(adapter: EngineAdapter) {
    const before = await tokensPredicted();
    const ctl = new AbortController();
    const events: EngineEvent[] = [];
    for await (const e of adapter.submit(request({ max_tokens: 8000 }), ctl.signal)) {
      events.push(e);
      if (e.type === "token" && e.i === 4) ctl.abort();
    }
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 5, stop_reason: "canceled" });
    expect(last((await collect(adapter, request({ max_tokens: 4 }))).events)).toMatchObject({ tokens_out: 4, stop_reason: "length" });
    expect((await tokensPredicted()) - before).toBeLessThan(8000);
  }

  async function tokensPredicted(): Promise<number> {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    return Number(/^llamacpp:tokens_predicted_total (\d+)/m.exec(text)?.[1]);
  }

  test("--api-key: the right key streams; a wrong one is not ready and never appears in messages", async () => {
    const good = new OpenAiEngine({ baseUrl: keyed.url, model: ALIAS, apiKey: KEY });
    expect(await good.health()).toEqual({ live: true, ready: true });
    expect(last((await collect(good, request({ max_tokens: 3 }))).events)).toMatchObject({ tokens_out: 3 });

    const wrongKey = `${KEY}-wrong`;
    const bad = new OpenAiEngine({ baseUrl: keyed.url, model: ALIAS, apiKey: wrongKey });
    const health = await bad.health();
    expect(health).toMatchObject({ live: true, ready: false });
    expect(health.reason).toContain("Invalid API Key");
    const { error } = await collect(bad, request());
    expect(error?.code).toBe("INTERNAL");
    expect(error?.message).toContain("HTTP 401");
    expect(`${health.reason} ${error?.message}`).not.toContain(wrongKey);
  });
});

// Shows in the test report why the block above did not run.
if (!built) test.skip(`real llama-server: ${LLAMA_SERVER_MISSING}`, () => {});
