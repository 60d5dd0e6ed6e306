// Every HTTP engine adapter sends a request's trace context as W3C `traceparent`/`tracestate`
// headers on its generation request (plain and chat), and none without one. The server here
// records the headers and refuses (503), so only the request matters.

import { afterAll, expect, test } from "bun:test";
import { LlamaCppEngine } from "./llamacpp.ts";
import { OpenAiEngine } from "./openai.ts";
import { TgiEngine } from "./tgi.ts";
import type { EngineAdapter, EngineRequest } from "./types.ts";

const seen: { path: string; traceparent: string | null; tracestate: string | null }[] = [];
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req) {
    if (req.method === "POST") seen.push({ path: new URL(req.url).pathname, traceparent: req.headers.get("traceparent"), tracestate: req.headers.get("tracestate") });
    return Response.json({ error: "busy" }, { status: 503 });
  },
});
afterAll(() => server.stop(true));
const base = `http://127.0.0.1:${server.port}`;

const TRACE = { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "vendor=1" };
const plain: EngineRequest = { task_id: "t1", prompt: "hi", max_tokens: 2, trace: TRACE, correlation_id: "c-1" };
const chat: EngineRequest = { ...plain, task_id: "t2", prompt: "", messages: [{ role: "user", content: "hi" }] };

async function run(engine: EngineAdapter, request: EngineRequest) {
  try {
    for await (const _ of engine.submit(request, new AbortController().signal));
  } catch {
    // 503: refused, as arranged
  }
  return seen.pop();
}

const adapters: [string, () => EngineAdapter][] = [
  ["openai", () => new OpenAiEngine({ baseUrl: `${base}/v1`, model: "m" })],
  ["tgi", () => new TgiEngine({ baseUrl: base })],
  ["llamacpp", () => new LlamaCppEngine({ baseUrl: base })],
];

for (const [name, make] of adapters) {
  test(`${name}: traceparent and tracestate go with plain and chat requests, nothing without a trace`, async () => {
    for (const request of [plain, chat]) {
      const got = await run(make(), request);
      expect(got).toMatchObject({ traceparent: TRACE.traceparent, tracestate: TRACE.tracestate });
    }
    const { trace: _, ...untraced } = plain;
    expect(await run(make(), untraced)).toMatchObject({ traceparent: null, tracestate: null });
  });
}
