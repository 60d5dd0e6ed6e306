// The TGI adapter against the stand-in (tests/fixtures/tgi-server.ts) on real sockets: the request
// body TGI's validation accepts, tokens and special tokens, details, errors inside the stream,
// a dying server, silence and cancel.

import { afterEach, describe, expect, test } from "bun:test";
import { flushMicrotasks, SimClock } from "../../runtime/index.ts";
import { startTgiStandin, type TgiStandin, type TgiStandinOptions } from "../../tests/fixtures/tgi-server.ts";
import { TgiEngine, type TgiEngineOptions } from "./tgi.ts";
import { EngineError, type EngineEvent, type EngineRequest } from "./types.ts";

const open: TgiStandin[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
function standin(options: TgiStandinOptions = {}): TgiStandin {
  const s = startTgiStandin(options);
  open.push(s);
  return s;
}
const engine = (s: { url: string }, over: Partial<TgiEngineOptions> = {}) => new TgiEngine({ baseUrl: `${s.url}/`, ...over });
const request = (over: Partial<EngineRequest> = {}): EngineRequest => ({ task_id: "t1", prompt: "hello world", max_tokens: 5, ...over });

async function collect(adapter: TgiEngine, req = request(), signal = new AbortController().signal) {
  const events: EngineEvent[] = [];
  try {
    for await (const e of adapter.submit(req, signal)) events.push(e);
    return { events, error: undefined };
  } catch (error) {
    return { events, error: error as EngineError };
  }
}
const tokens = (events: EngineEvent[]) => events.filter((e) => e.type === "token");
const last = (events: EngineEvent[]) => events[events.length - 1];

describe("generate_stream", () => {
  test("greedy by default: do_sample false, no temperature/top_p/top_k, details asked for", async () => {
    const s = standin();
    const { events, error } = await collect(engine(s), request({ seed: 4, top_p: 1, top_k: 40, stop: ["zzz"] }));
    expect(error).toBeUndefined();
    expect(s.requests.find((r) => r.path === "/generate_stream")!.body).toEqual({
      inputs: "hello world",
      parameters: { max_new_tokens: 5, details: true, do_sample: false, seed: 4, stop: ["zzz"] },
    });
    expect(events[0]).toEqual({ type: "started", engine_version: "tgi-unknown" });
    expect(tokens(events).map((e) => (e as { i: number }).i)).toEqual([0, 1, 2, 3, 4]);
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 5, stop_reason: "length" });
  });

  test("sampling sends temperature, and top_p/top_k only inside TGI's ranges", async () => {
    const s = standin();
    const ok = await collect(engine(s), request({ temperature: 0.7, top_p: 0.9, top_k: 20, seed: 1 }));
    expect(ok.error).toBeUndefined();
    expect(s.requests.at(-1)!.body.parameters).toEqual({ max_new_tokens: 5, details: true, do_sample: true, temperature: 0.7, top_p: 0.9, top_k: 20, seed: 1 });
    await collect(engine(s), request({ temperature: 0.7, top_p: 1 }));
    expect(s.requests.at(-1)!.body.parameters.top_p).toBeUndefined();
  });

  test("same seed and prompt, same text", async () => {
    const s = standin();
    const a = await collect(engine(s), request({ seed: 9, temperature: 0.8 }));
    const b = await collect(engine(s), request({ seed: 9, temperature: 0.8 }));
    expect(tokens(a.events)).toEqual(tokens(b.events));
  });

  test("EOS is a special token: counted, not shown; finish eos_token is stop_reason stop", async () => {
    const s = standin({ eosAfterTokens: 3 });
    const { events } = await collect(engine(s));
    expect(tokens(events)).toHaveLength(2);
    expect(events.some((e) => e.type === "token" && e.t.includes("</s>"))).toBe(false);
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 3, stop_reason: "stop" });
  });

  test("a stop sequence ends with stop_reason stop", async () => {
    const s = standin();
    const first = tokens((await collect(engine(s), request({ max_tokens: 2 }))).events).map((e) => (e as { t: string }).t);
    const { events } = await collect(engine(s), request({ max_tokens: 50, stop: [first[1]!.trim()] }));
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 2, stop_reason: "stop" });
  });
});

describe("health and info", () => {
  test("/health 200 is ready, 503 is live but not ready, nobody listening is not live", async () => {
    const s = standin();
    expect(await engine(s).health()).toEqual({ live: true, ready: true });
    s.faults.unhealthy = true;
    expect(await engine(s).health()).toMatchObject({ live: true, ready: false, reason: expect.stringContaining("HTTP 503") });
    await s.close();
    expect(await engine(s).health()).toMatchObject({ live: false, ready: false });
  });

  test("/info gives the context, the concurrency limit and the version", async () => {
    const s = standin({ maxTotalTokens: 4096, maxConcurrentRequests: 16, version: "2.4.1" });
    const adapter = engine(s);
    expect(await adapter.props()).toEqual({ ctx_max: 4096, slots_total: 16 });
    expect(adapter.version()).toBe("tgi-2.4.1");
    const { events } = await collect(adapter);
    expect(events[0]).toEqual({ type: "started", engine_version: "tgi-2.4.1" });
  });
});

describe("errors", () => {
  test("a validation error event (HTTP 200) is INTERNAL with TGI's message, before any started", async () => {
    const s = standin({ maxTotalTokens: 64 });
    const { events, error } = await collect(engine(s), request({ max_tokens: 100 }));
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(EngineError);
    expect(error!.code).toBe("INTERNAL");
    expect(error!.message).toContain("Input validation error: `inputs` tokens + `max_new_tokens` must be <= 64");
  });

  test("overloaded is POOL_UNAVAILABLE; a generation error mid-stream is WORKER_RESET", async () => {
    const s = standin({ faults: { overloaded: true } });
    expect((await collect(engine(s))).error?.code).toBe("POOL_UNAVAILABLE");
    s.faults = { errorAfterTokens: 2 };
    const { events, error } = await collect(engine(s));
    expect(tokens(events)).toHaveLength(2);
    expect(error!.code).toBe("WORKER_RESET");
    expect(error!.message).toContain("CUDA out of memory");
  });

  test("a server dying mid-stream is WORKER_RESET; then nobody listens: POOL_UNAVAILABLE", async () => {
    const s = standin({ faults: { crashAfterTokens: 2 } });
    const crashed = await collect(engine(s));
    expect(tokens(crashed.events)).toHaveLength(2);
    expect(crashed.error!.code).toBe("WORKER_RESET");
    expect((await collect(engine(s))).error!.code).toBe("POOL_UNAVAILABLE");
  });

  test("silence past the idle timeout is DECODE_TIMEOUT (simulated clock)", async () => {
    const silent = Bun.serve({
      hostname: "127.0.0.1", port: 0, idleTimeout: 0,
      fetch: () => new Response(new ReadableStream({
        pull: (c) => { c.enqueue(new TextEncoder().encode(`data:${JSON.stringify({ index: 1, token: { id: 5, text: " a", logprob: -1, special: false }, generated_text: null, details: null })}\n\n`)); return new Promise(() => {}); },
      }), { headers: { "Content-Type": "text/event-stream" } }),
    });
    try {
      const clock = new SimClock();
      const it = new TgiEngine({ baseUrl: `http://127.0.0.1:${silent.port}`, clock, timeouts: { streamIdleMs: 1000 } }).submit(request(), new AbortController().signal)[Symbol.asyncIterator]();
      expect((await it.next()).value).toMatchObject({ type: "started" });
      expect((await it.next()).value).toMatchObject({ type: "token", t: " a" });
      const next = it.next().then(() => undefined, (e: EngineError) => e);
      await flushMicrotasks();
      await clock.advance(1000);
      expect((await next)?.code).toBe("DECODE_TIMEOUT");
    } finally {
      silent.stop(true);
    }
  });
});

describe("cancel", () => {
  test("aborting ends with stop_reason canceled and the server sees the stream close", async () => {
    const s = standin({ maxTotalTokens: 1_000_000 });
    const ctl = new AbortController();
    const events: EngineEvent[] = [];
    for await (const e of engine(s).submit(request({ max_tokens: 500_000 }), ctl.signal)) {
      events.push(e);
      if (e.type === "token" && e.i === 1) ctl.abort();
    }
    expect(last(events)).toMatchObject({ type: "end", tokens_out: 2, stop_reason: "canceled" });
    await s.whenCanceled(1);
  });
});

describe("the API key", () => {
  test("is sent as a bearer token and kept out of messages, JSON and inspect", async () => {
    const key = "hf_secret_token_1234567890";
    const s = standin({ faults: { overloaded: true } });
    const adapter = engine(s, { apiKey: key });
    const { error } = await collect(adapter);
    expect(s.requests.at(-1)!.authorization).toBe(`Bearer ${key}`);
    expect(error!.message).not.toContain(key);
    expect(JSON.stringify(adapter)).not.toContain(key);
    expect(Bun.inspect(adapter)).not.toContain(key);
  });
});
