// The llama.cpp adapter against a scripted llama-server on a real socket: exact wire bytes in
// (SSE `data:` lines split anywhere, errors, drops, silence), engine events and EngineErrors out.

import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { flushMicrotasks, SimClock } from "../../runtime/index.ts";
import { LlamaCppEngine, type LlamaCppEngineOptions } from "./llamacpp.ts";
import { EngineError, type EngineEvent, type EngineRequest } from "./types.ts";

type Handler = (req: Request) => Response | Promise<Response>;
let handler: Handler = () => new Response("no handler", { status: 500 });
/** Resolves when the server sees the client go away (stream canceled or request aborted). */
let disconnected: Promise<void> = Promise.resolve();
let onDisconnect = () => {};
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: (req) => handler(req) });
const base = `http://127.0.0.1:${server.port}`;
afterAll(() => server.stop(true));
afterEach(() => {
  handler = () => new Response("no handler", { status: 500 });
});

const enc = new TextEncoder();
const data = (obj: object) => `data: ${JSON.stringify(obj)}\n\n`;
const final = (extra: object = {}) =>
  data({ content: "", stop: true, tokens_predicted: 2, tokens_evaluated: 3, stop_type: "limit", timings: { predicted_n: 2, predicted_ms: 12.6 }, ...extra });

/** Streams `parts` as separate writes; then ends or stays silent. */
function stream(parts: (string | Uint8Array)[], end: "close" | "hang" = "close"): Handler {
  return (req) => {
    disconnected = new Promise((resolve) => (onDisconnect = resolve));
    req.signal.addEventListener("abort", () => onDisconnect(), { once: true });
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        await flushMicrotasks();
        if (i < parts.length) {
          const p = parts[i++]!;
          return c.enqueue(typeof p === "string" ? enc.encode(p) : p);
        }
        if (end === "close") c.close();
        else await new Promise(() => {});
      },
      cancel: () => onDisconnect(),
    });
    return new Response(body, { headers: { "Content-Type": "text/event-stream" } });
  };
}

function engine(over: Partial<LlamaCppEngineOptions> = {}) {
  return new LlamaCppEngine({ baseUrl: `${base}/`, ...over });
}

const request = (over: Partial<EngineRequest> = {}): EngineRequest => ({ task_id: "t1", prompt: "hi", max_tokens: 2, ...over });

/** The events, without the `more` hint (it depends on how the socket split the stream; tested on its own). */
async function collect(adapter: LlamaCppEngine, req = request(), signal = new AbortController().signal) {
  const events: EngineEvent[] = [];
  try {
    for await (const e of adapter.submit(req, signal)) {
      if (e.type === "token") {
        const { more: _, ...token } = e;
        events.push(token);
      } else events.push(e);
    }
    return { events, error: undefined };
  } catch (error) {
    return { events, error: error as EngineError };
  }
}

/** A raw TCP server that answers with a chunked SSE head and one chunk; `drop()` kills the socket. */
function droppingServer(chunk: string) {
  const sockets: { terminate(): void }[] = [];
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket) {
        const head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        socket.write(`${head}${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`);
        sockets.push(socket);
      },
    },
  });
  return { port: listener.port, drop: () => sockets.forEach((s) => s.terminate()), stop: () => listener.stop(true) };
}

async function deadPort(): Promise<number> {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = s.port!;
  await s.stop(true);
  return port;
}

describe("health and props", () => {
  test("200 is ready, 503 (loading) live but not ready, refused or hung is not live", async () => {
    handler = () => Response.json({ status: "ok" });
    expect(await engine().health()).toEqual({ live: true, ready: true });
    handler = () => Response.json({ error: { code: 503, message: "Loading model", type: "unavailable_error" } }, { status: 503 });
    expect(await engine().health()).toEqual({ live: true, ready: false });
    handler = () => new Promise(() => {});
    const clock = new SimClock();
    const hung = engine({ healthTimeoutMs: 100, clock }).health();
    await clock.advance(100); // the adapter's timeouts run on the injected clock
    expect(await hung).toEqual({ live: false, ready: false });
    expect(await new LlamaCppEngine({ baseUrl: `http://127.0.0.1:${await deadPort()}` }).health()).toEqual({ live: false, ready: false });
  });

  test("props gives slots and context, and build_info becomes the engine version", async () => {
    handler = () => Response.json({ default_generation_settings: { n_ctx: 8192 }, total_slots: 4, build_info: "b6000-abc123" });
    const adapter = engine({ version: "llamacpp-deploy" });
    expect(adapter.version()).toBe("llamacpp-deploy");
    expect(await adapter.props()).toEqual({ slots_total: 4, ctx_max: 8192 });
    expect(adapter.version()).toBe("llamacpp-b6000-abc123");
  });

  test("props while loading or unreachable is POOL_UNAVAILABLE", async () => {
    handler = () => Response.json({ error: { code: 503, message: "Loading model", type: "unavailable_error" } }, { status: 503 });
    const loading = (await engine().props().catch((e) => e)) as EngineError;
    expect([loading.code, loading.fatal, loading.message]).toEqual(["POOL_UNAVAILABLE", false, "engine /props answered HTTP 503: Loading model"]);
    const refused = (await new LlamaCppEngine({ baseUrl: `http://127.0.0.1:${await deadPort()}` }).props().catch((e) => e)) as EngineError;
    expect(refused.code).toBe("POOL_UNAVAILABLE");
  });
});

describe("submit", () => {
  test("tokens that arrive in one read say `more` until the last of them", async () => {
    handler = () => new Response([data({ content: "a", stop: false }), data({ content: "b", stop: false }), data({ content: "c", stop: false })].join("") + final(), { headers: { "content-type": "text/event-stream" } });
    const tokens: EngineEvent[] = [];
    for await (const e of engine().submit(request(), new AbortController().signal)) if (e.type === "token") tokens.push(e);
    expect(tokens).toEqual([
      { type: "token", t: "a", i: 0, more: true },
      { type: "token", t: "b", i: 1, more: true },
      { type: "token", t: "c", i: 2, more: true }, // the final chunk follows in the same read
    ]);
  });

  test("sends llama-server's completion body and maps chunks to started, token*, end", async () => {
    let sent: any;
    let accept: string | null | undefined;
    const script = stream([data({ content: "Hel", stop: false }), data({ content: "lo", stop: false }), final()]);
    handler = async (req) => {
      sent = await req.json();
      accept = req.headers.get("accept");
      return script(req);
    };
    const { events, error } = await collect(engine({ version: "llamacpp-x" }), request({ seed: 5, stop: ["\n"] }));
    expect(error).toBeUndefined();
    expect(sent).toEqual({ prompt: "hi", n_predict: 2, seed: 5, temperature: 0, top_p: 1, stop: ["\n"], stream: true });
    expect(accept).toBe("text/event-stream");
    expect(events).toEqual([
      { type: "started", engine_version: "llamacpp-x" },
      { type: "token", t: "Hel", i: 0 },
      { type: "token", t: "lo", i: 1 },
      { type: "end", tokens_out: 2, decode_ms: 13, stop_reason: "length", tokens_in: 3 }, // the final chunk's prompt count
    ]);
  });

  test("frames split anywhere, UTF-8 split across writes, [DONE], comments and empty chunks", async () => {
    const e = enc.encode(data({ content: "é", stop: false }));
    const cut = e.indexOf(0xa9); // inside the two bytes of "é"
    handler = stream([
      ": ping\n\n",
      'data: {"content":"a","st',
      'op":false}\n',
      "\n",
      e.subarray(0, cut),
      e.subarray(cut),
      data({ content: "", stop: false, prompt_progress: { total: 3 } }),
      final({ stop_type: "word", stopping_word: "\n" }),
      "data: [DONE]\n\n",
    ]);
    const { events, error } = await collect(engine());
    expect(error).toBeUndefined();
    expect(events.filter((x) => x.type === "token")).toEqual([{ type: "token", t: "a", i: 0 }, { type: "token", t: "é", i: 1 }]);
    expect(events.at(-1)).toMatchObject({ type: "end", stop_reason: "stop" });
  });

  test("older servers' stopped_* flags map too", async () => {
    handler = stream([data({ content: "x", stop: false }), data({ content: "", stop: true, stopped_eos: true, tokens_predicted: 1 })]);
    expect((await collect(engine())).events.at(-1)).toMatchObject({ type: "end", tokens_out: 1, stop_reason: "stop" });
  });

  test("an error line mid-stream ends it with a non-fatal EngineError after the tokens sent", async () => {
    handler = stream([data({ content: "x", stop: false }), data({ error: { code: 500, message: "decode failed", type: "server_error" } })]);
    const { events, error } = await collect(engine());
    expect(events.map((e) => e.type)).toEqual(["started", "token"]);
    expect([error?.code, error?.fatal, error?.message]).toEqual(["INTERNAL", false, "engine failed the request: decode failed"]);
  });

  test("HTTP errors before the stream: 503 is POOL_UNAVAILABLE, 400 INTERNAL with the engine's message", async () => {
    handler = () => Response.json({ error: { code: 503, message: "Loading model", type: "unavailable_error" } }, { status: 503 });
    const loading = await collect(engine());
    expect(loading.events).toEqual([]);
    expect(loading.error?.code).toBe("POOL_UNAVAILABLE");
    handler = () => Response.json({ error: { code: 400, message: "context exceeded", type: "exceed_context_size_error" } }, { status: 400 });
    const bad = await collect(engine());
    expect([bad.error?.code, bad.error?.message]).toEqual(["INTERNAL", "engine refused the request: HTTP 400: context exceeded"]);
  });

  test("a dropped connection or a stream that ends without stop is WORKER_RESET, not fatal", async () => {
    const dropping = droppingServer(data({ content: "x", stop: false }));
    const events: EngineEvent[] = [];
    const error = await (async () => {
      for await (const e of new LlamaCppEngine({ baseUrl: `http://127.0.0.1:${dropping.port}` }).submit(request(), new AbortController().signal)) {
        events.push(e);
        if (e.type === "token") dropping.drop(); // the engine dies after its first token
      }
    })().catch((e: EngineError) => e);
    dropping.stop();
    expect(events.map((e) => e.type)).toEqual(["started", "token"]);
    expect([error?.code, error?.fatal]).toEqual(["WORKER_RESET", false]);
    handler = stream([data({ content: "x", stop: false })], "close");
    const cut = await collect(engine());
    expect([cut.error?.code, cut.error?.message]).toEqual(["WORKER_RESET", "engine closed the stream before the end of the completion"]);
  });

  test("a connection reset before the response is WORKER_RESET", async () => {
    const resetting = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (socket) => void socket.terminate() } });
    const reset = await collect(new LlamaCppEngine({ baseUrl: `http://127.0.0.1:${resetting.port}` }));
    resetting.stop(true);
    expect([reset.events, reset.error?.code, reset.error?.fatal]).toEqual([[], "WORKER_RESET", false]);
  });

  test("a malformed line is INTERNAL; an unreachable engine POOL_UNAVAILABLE", async () => {
    handler = stream(["data: {not json\n\n"]);
    expect((await collect(engine())).error?.code).toBe("INTERNAL");
    const unreachable = await collect(new LlamaCppEngine({ baseUrl: `http://127.0.0.1:${await deadPort()}` }));
    expect([unreachable.events, unreachable.error?.code]).toEqual([[], "POOL_UNAVAILABLE"]);
  });

  test("silence longer than streamIdleTimeoutMs is DECODE_TIMEOUT and closes the connection", async () => {
    handler = stream([data({ content: "x", stop: false })], "hang");
    const { events, error } = await collect(engine({ streamIdleTimeoutMs: 100 }));
    expect(events.map((e) => e.type)).toEqual(["started", "token"]);
    expect(error?.code).toBe("DECODE_TIMEOUT");
    await disconnected;
  });

  test("no response headers within streamOpenTimeoutMs is DECODE_TIMEOUT with no events", async () => {
    handler = () => new Promise(() => {});
    const clock = new SimClock();
    const run = collect(engine({ streamOpenTimeoutMs: 100, clock }));
    await clock.advance(99);
    expect(clock.pending()).toBe(1);
    await clock.advance(1);
    const { events, error } = await run;
    expect([events, error?.code]).toEqual([[], "DECODE_TIMEOUT"]);
  });

  test("cancel(task_id) mid-stream ends canceled with the tokens so far and closes the connection", async () => {
    handler = stream([data({ content: "a", stop: false }), data({ content: "b", stop: false })], "hang");
    const adapter = engine();
    const events: EngineEvent[] = [];
    for await (const e of adapter.submit(request({ task_id: "c1" }), new AbortController().signal)) {
      events.push(e);
      if (e.type === "token" && e.i === 1) await adapter.cancel("c1");
    }
    expect(events.map((e) => e.type)).toEqual(["started", "token", "token", "end"]);
    expect(events.at(-1)).toMatchObject({ type: "end", tokens_out: 2, stop_reason: "canceled" });
    await disconnected;
  });

  test("an abort before the engine answers ends canceled without started", async () => {
    handler = () => new Promise(() => {});
    const abort = new AbortController();
    const run = collect(engine(), request(), abort.signal);
    abort.abort();
    const { events, error } = await run;
    expect(error).toBeUndefined();
    expect(events).toEqual([{ type: "end", tokens_out: 0, decode_ms: expect.any(Number), stop_reason: "canceled" }]);
  });

  test("a consumer that stops iterating early closes the connection", async () => {
    handler = stream([data({ content: "a", stop: false })], "hang");
    for await (const e of engine().submit(request(), new AbortController().signal)) if (e.type === "token") break;
    await disconnected;
  });
});
