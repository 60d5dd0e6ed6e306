// The bench's own OpenAI-compatible engine: GET /v1/models, POST /v1/completions with
// stream:true (one `data:` event per token in vLLM's chunk shape, a finish chunk, a usage chunk,
// `data: [DONE]`). It does no inference, so it is never the slow part of the path:
//   --interval-ms 0   as fast as the reader takes them (pull-based, so a slow reader holds it back)
//   --interval-ms N   paced: token k of a stream is due at start + (k+1)·N ms; one ticker serves all
//                     streams and catches up when late, so the engine offers the nominal rate
// GET /stats: tokens written, streams started / completed / aborted, peak concurrent streams.
// Usage: bun bench/load/engine-server.ts --port N --model NAME [--interval-ms N] [--tick-ms N]

import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    model: { type: "string", default: "bench" },
    "interval-ms": { type: "string", default: "0" },
    "tick-ms": { type: "string", default: "0" },
  },
});
const MODEL = values.model!;
const INTERVAL = Number(values["interval-ms"]);
const TICK = Number(values["tick-ms"]) || Math.max(1, Math.min(10, Math.floor(INTERVAL / 2)));
const WORDS = [" the", " orchestrator", " streams", " tokens", " to", " every", " client", " in", " order", " while", " nodes", " keep", " their", " engines", " alive", " and"];
const enc = new TextEncoder();
const stats = { tokens: 0, started: 0, completed: 0, aborted: 0, open: 0, peak_open: 0 };

interface Stream {
  c: ReadableStreamDefaultController<Uint8Array>;
  chunks: Uint8Array[];
  sent: number;
  max: number;
  t0: number;
  tail: Uint8Array;
  done: boolean;
}

function chunksFor(id: string, created: number): Uint8Array[] {
  return WORDS.map((w) => enc.encode(`data: ${JSON.stringify({ id, object: "text_completion", created, model: MODEL, choices: [{ index: 0, text: w, logprobs: null, finish_reason: null }], usage: null })}\n\n`));
}

function tailFor(id: string, created: number, promptTokens: number, n: number): Uint8Array {
  const finish = { id, object: "text_completion", created, model: MODEL, choices: [{ index: 0, text: "", logprobs: null, finish_reason: "length" }], usage: null };
  const usage = { id, object: "text_completion", created, model: MODEL, choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: n, total_tokens: promptTokens + n } };
  return enc.encode(`data: ${JSON.stringify(finish)}\n\ndata: ${JSON.stringify(usage)}\n\ndata: [DONE]\n\n`);
}

const paced = new Set<Stream>();
function finish(s: Stream) {
  if (s.done) return;
  s.done = true;
  paced.delete(s);
  stats.open--;
  stats.completed++;
  s.c.enqueue(s.tail);
  s.c.close();
}

if (INTERVAL > 0) {
  setInterval(() => {
    const now = performance.now();
    for (const s of paced) {
      const due = Math.min(s.max, Math.floor((now - s.t0) / INTERVAL));
      while (s.sent < due) {
        s.c.enqueue(s.chunks[s.sent % s.chunks.length]!);
        s.sent++;
        stats.tokens++;
      }
      if (s.sent >= s.max) finish(s);
    }
  }, TICK);
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  idleTimeout: 0,
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/v1/models") return Response.json({ object: "list", data: [{ id: MODEL, object: "model", created: 0, owned_by: "bench", max_model_len: 1_000_000 }] });
    if (path === "/stats") return Response.json(stats);
    if (path !== "/v1/completions" || req.method !== "POST") return Response.json({ error: { message: "not found", type: "invalid_request_error", code: 404 } }, { status: 404 });
    const body = (await req.json()) as { max_tokens?: number; prompt?: string; stream?: boolean };
    const max = Math.max(1, Number(body.max_tokens ?? 16));
    const id = `cmpl-${crypto.randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const promptTokens = Math.ceil(String(body.prompt ?? "").length / 4);
    if (!body.stream) {
      const text = Array.from({ length: max }, (_, i) => WORDS[i % WORDS.length]).join("");
      return Response.json({ id, object: "text_completion", created, model: MODEL, choices: [{ index: 0, text, finish_reason: "length" }], usage: { prompt_tokens: promptTokens, completion_tokens: max, total_tokens: promptTokens + max } });
    }
    stats.started++;
    stats.open++;
    stats.peak_open = Math.max(stats.peak_open, stats.open);
    let s!: Stream;
    const stream = new ReadableStream<Uint8Array>(
      {
        start(c) {
          s = { c, chunks: chunksFor(id, created), sent: 0, max, t0: performance.now(), tail: tailFor(id, created, promptTokens, max), done: false };
          if (INTERVAL > 0) paced.add(s);
        },
        pull(c) {
          if (INTERVAL > 0 || s.done) return;
          // Fast mode: up to 16 events per pull, each its own chunk; the reader's pace sets ours.
          for (let k = 0; k < 16 && s.sent < s.max; k++, s.sent++, stats.tokens++) c.enqueue(s.chunks[s.sent % s.chunks.length]!);
          if (s.sent >= s.max) finish(s);
        },
        cancel() {
          if (s.done) return;
          s.done = true;
          paced.delete(s);
          stats.open--;
          stats.aborted++;
        },
      },
      { highWaterMark: 16 },
    );
    return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  },
});
console.log(JSON.stringify({ event: "listening", port: server.port }));
process.on("SIGTERM", () => process.exit(0));
