// The OpenAI-compatible adapter against the stand-in (tests/fixtures/openai-server.ts) in its vLLM,
// pre-0.10 vLLM and OpenAI flavours, on real sockets: request bodies, deltas to tokens, usage,
// finish reasons, every error shape, drops, silence, cancel, and that the API key never shows.

import { afterEach, describe, expect, test } from "bun:test";
import { flushMicrotasks, SimClock } from "../../runtime/index.ts";
import { startOpenAiStandin, type OpenAiStandin, type OpenAiStandinOptions } from "../../tests/fixtures/openai-server.ts";
import { redactSecrets } from "./http-stream.ts";
import { OpenAiEngine, type OpenAiEngineOptions } from "./openai.ts";
import { EngineError, type EngineEvent, type EngineRequest } from "./types.ts";

const KEY = "sk-test-0123456789abcdefghijklmnop";
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

function standin(options: OpenAiStandinOptions = {}): OpenAiStandin {
  const s = startOpenAiStandin({ apiKey: KEY, ...options });
  open.push(s);
  return s;
}

const engine = (s: { url: string }, over: Partial<OpenAiEngineOptions> = {}) => new OpenAiEngine({ baseUrl: s.url, apiKey: KEY, model: "standin-model", ...over });
const request = (over: Partial<EngineRequest> = {}): EngineRequest => ({ task_id: "t1", prompt: "hello world", max_tokens: 5, ...over });

async function collect(adapter: OpenAiEngine, req = request(), signal = new AbortController().signal) {
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

describe("streaming completions", () => {
  test("sends an OpenAI completions request and maps deltas, usage and finish_reason", async () => {
    const s = standin();
    const { events, error } = await collect(engine(s), request({ seed: 7, top_k: 3, stop: ["zzz"] }));
    expect(error).toBeUndefined();
    expect(events[0]).toEqual({ type: "started", engine_version: "openai-compatible" });
    expect(events.filter((e) => e.type === "token").map((e) => (e as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 5, stop_reason: "length" });

    const sent = s.requests.find((r) => r.path === "/v1/completions")!;
    expect(sent.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.body).toEqual({
      model: "standin-model", prompt: "hello world", max_tokens: 5, temperature: 0, seed: 7, stop: ["zzz"], top_k: 3,
      stream: true, stream_options: { include_usage: true },
    });
  });

  test("a delta holding several tokens is one token event; tokens_out comes from usage", async () => {
    const s = standin({ tokensPerDelta: 2 });
    const { events } = await collect(engine(s), request({ max_tokens: 5 }));
    expect(events.filter((e) => e.type === "token")).toHaveLength(3);
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 5, stop_reason: "length" });
  });

  test("the chat API sends one user message and reads delta.content; same seed, same text", async () => {
    const s = standin();
    const chat = await collect(engine(s, { api: "chat" }), request({ seed: 3 }));
    const plain = await collect(engine(s), request({ seed: 3 }));
    expect(s.requests.find((r) => r.path === "/v1/chat/completions")!.body.messages).toEqual([{ role: "user", content: "hello world" }]);
    expect(text(chat.events)).toBe(text(plain.events));
    expect(text(chat.events).length).toBeGreaterThan(0);
    expect(last(chat.events)).toMatchObject({ type: "end", tokens_out: 5, stop_reason: "length" });
  });

  test("end of sequence and stop strings end with stop_reason stop", async () => {
    const s = standin({ eosAfterTokens: 3 });
    expect(last((await collect(engine(s))).events)).toMatchObject({ type: "end", tokens_out: 3, stop_reason: "stop" });
    // ignore_eos runs to max_tokens.
    expect(last((await collect(engine(s), request({ ignore_eos: true }))).events)).toMatchObject({ tokens_out: 5, stop_reason: "length" });

    const full = text((await collect(engine(s), request({ max_tokens: 2, ignore_eos: true }))).events);
    const cut = await collect(engine(s), request({ max_tokens: 5, ignore_eos: true, stop: [full.trim().split(" ")[1]!] }));
    expect(last(cut.events)).toMatchObject({ type: "end", stop_reason: "stop" });
    expect(text(cut.events).length).toBeLessThan(full.length);
  });

  test("OpenAI flavour: finish on an empty-delta chunk, usage:null chunks, and no unknown parameters sent", async () => {
    const s = standin({ flavor: "openai" });
    const { events, error } = await collect(engine(s, { api: "chat", baseUrl: `${s.url}/v1/` }));
    expect(error).toBeUndefined();
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 5, stop_reason: "length" });
    // top_k is not an OpenAI parameter: asking for it is the server's 400, passed on as INTERNAL.
    const rejected = await collect(engine(s), request({ top_k: 5 }));
    expect(rejected.error).toBeInstanceOf(EngineError);
    expect(rejected.error!.code).toBe("INTERNAL");
    expect(rejected.error!.message).toContain("Unrecognized request argument supplied: top_k");
  });

  test("a stream that ends without [DONE] after a finish_reason is a clean end", async () => {
    const s = standin({ faults: { omitDone: true } });
    const { events, error } = await collect(engine(s));
    expect(error).toBeUndefined();
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 5, stop_reason: "length" });
  });
});

describe("health and props", () => {
  test("ready with a good key; vLLM's max_model_len becomes ctx_max and owned_by the version", async () => {
    const s = standin({ maxModelLen: 2048 });
    const adapter = engine(s);
    expect(await adapter.health()).toEqual({ live: true, ready: true });
    expect(await adapter.props()).toEqual({ ctx_max: 2048 });
    expect(adapter.version()).toBe("openai-vllm");
  });

  test("OpenAI gives no context length", async () => {
    const s = standin({ flavor: "openai" });
    expect(await engine(s).props()).toEqual({});
  });

  test("a rejected key is live but not ready, with a reason that does not hold the key", async () => {
    for (const flavor of ["vllm", "openai"] as const) {
      const s = standin({ flavor });
      const h = await engine(s, { apiKey: `${KEY}-wrong` }).health();
      expect(h.live).toBe(true);
      expect(h.ready).toBe(false);
      expect(h.reason).toContain("HTTP 401");
      expect(h.reason).not.toContain(KEY);
      expect(h.reason).not.toContain("wxyz"); // OpenAI echoes a masked key; that is redacted too
    }
  });

  test("a model the server does not serve is not ready; nobody listening is not live", async () => {
    const s = standin();
    const h = await engine(s, { model: "other" }).health();
    expect(h).toMatchObject({ live: true, ready: false });
    expect(h.reason).toContain("standin-model");
    await s.close();
    expect(await engine(s).health()).toMatchObject({ live: false, ready: false });
  });
});

describe("errors", () => {
  test("HTTP statuses map to codes: 401 INTERNAL, 429 and 503 POOL_UNAVAILABLE, 500 INTERNAL", async () => {
    const s = standin({ flavor: "openai" });
    expect((await collect(engine(s, { apiKey: "sk-wrong-key-abcdef" }))).error?.code).toBe("INTERNAL");
    for (const [status, code] of [[429, "POOL_UNAVAILABLE"], [503, "POOL_UNAVAILABLE"], [500, "INTERNAL"]] as const) {
      s.faults.status = status;
      const { events, error } = await collect(engine(s));
      expect(events).toEqual([]);
      expect(error).toBeInstanceOf(EngineError);
      expect(error!.code).toBe(code);
      expect(error!.message).toContain(`HTTP ${status}`);
    }
  });

  test("each error body shape gives its message (vLLM, vLLM < 0.10, OpenAI)", async () => {
    for (const flavor of ["vllm", "vllm-legacy", "openai"] as const) {
      const s = standin({ flavor });
      const { error } = await collect(engine(s, { model: "nope" }));
      expect(error!.code).toBe("INTERNAL");
      expect(error!.message).toContain("The model `nope` does not exist");
    }
  });

  test("an error chunk mid-stream ends the stream with that error, in both vLLM shapes", async () => {
    for (const flavor of ["vllm", "vllm-legacy"] as const) {
      const s = standin({ flavor, faults: { errorAfterTokens: 2 } });
      const { events, error } = await collect(engine(s));
      expect(events.filter((e) => e.type === "token")).toHaveLength(2);
      expect(error!.code).toBe("INTERNAL");
      expect(error!.message).toContain("CUDA error");
    }
  });

  test("a server dying mid-stream is WORKER_RESET; then nobody listens: POOL_UNAVAILABLE", async () => {
    const s = standin({ faults: { crashAfterTokens: 2 } });
    const dropped = await collect(engine(s));
    expect(dropped.events.filter((e) => e.type === "token")).toHaveLength(2);
    expect(dropped.error!.code).toBe("WORKER_RESET");
    const refused = await collect(engine(s));
    expect(refused.events).toEqual([]);
    expect(refused.error!.code).toBe("POOL_UNAVAILABLE");
  });

  test("silence past the idle timeout is DECODE_TIMEOUT (simulated clock)", async () => {
    const s = standin({ faults: { hangAfterTokens: 1 } });
    const clock = new SimClock();
    const it = engine(s, { clock, timeouts: { streamIdleMs: 5000 } }).submit(request(), new AbortController().signal)[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ type: "started" });
    expect((await it.next()).value).toMatchObject({ type: "token", i: 0 });
    const next = it.next().then(() => undefined, (e: EngineError) => e);
    await flushMicrotasks();
    await clock.advance(4999);
    await clock.advance(1);
    const error = await next;
    expect(error).toBeInstanceOf(EngineError);
    expect(error!.code).toBe("DECODE_TIMEOUT");
    await s.whenCanceled(1); // the adapter closed the connection
  });
});

describe("cancel", () => {
  test("aborting ends with stop_reason canceled and closes the server's stream", async () => {
    const s = standin({ maxModelLen: 1_000_000 });
    const ctl = new AbortController();
    const events: EngineEvent[] = [];
    for await (const e of engine(s).submit(request({ max_tokens: 100_000 }), ctl.signal)) {
      events.push(e);
      if (e.type === "token" && e.i === 2) ctl.abort();
    }
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 3, stop_reason: "canceled" });
    await s.whenCanceled(1);
    expect(s.generated).toBeLessThan(100_000);
  });

  test("cancel(task_id) does the same", async () => {
    const s = standin({ maxModelLen: 1_000_000 });
    const adapter = engine(s);
    const events: EngineEvent[] = [];
    for await (const e of adapter.submit(request({ task_id: "t9", max_tokens: 100_000 }), new AbortController().signal)) {
      events.push(e);
      if (e.type === "token" && e.i === 0) await adapter.cancel("t9");
    }
    expect(last(events)).toMatchObject({ type: "end", stop_reason: "canceled" });
    await s.whenCanceled(1);
  });
});

describe("the API key stays secret", () => {
  test("a server that echoes the key in its error: the EngineError does not contain it", async () => {
    const echo = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => Response.json({ error: { message: `bad key ${req.headers.get("authorization")} (${KEY})`, type: "auth", code: 401 } }, { status: 401 }),
    });
    open.push({ close: () => echo.stop(true) });
    const adapter = engine({ url: `http://127.0.0.1:${echo.port}` });
    const { error } = await collect(adapter);
    expect(error!.code).toBe("INTERNAL");
    expect(error!.message).toContain("[REDACTED]");
    expect(error!.message).not.toContain(KEY);
    expect((await adapter.health()).reason).not.toContain(KEY);
  });

  test("logging or serialising the adapter does not print the key", () => {
    const adapter = new OpenAiEngine({ baseUrl: "https://user:pw@api.example.com/v1", apiKey: KEY, model: "m" });
    expect(JSON.stringify(adapter)).not.toContain(KEY);
    expect(JSON.stringify(adapter)).not.toContain("pw@");
    expect(Bun.inspect(adapter)).not.toContain(KEY);
    expect(JSON.parse(JSON.stringify(adapter))).toEqual({ engine: "openai", baseUrl: "https://api.example.com", model: "m", api: "completions", apiKey: "[REDACTED]" });
  });

  test("redactSecrets removes the secret, bearer tokens and masked keys", () => {
    expect(redactSecrets(`x ${KEY} y`, [KEY])).toBe("x [REDACTED] y");
    expect(redactSecrets("Authorization: Bearer abc.def", [])).toBe("Authorization: Bearer [REDACTED]");
    expect(redactSecrets("provided: sk-ab*****wxyz.", [])).toBe("provided: [REDACTED].");
  });
});
