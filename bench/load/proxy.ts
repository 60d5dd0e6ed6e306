// The minimal relay: forwards a request to the engine and re-serialises every SSE event of the
// answer (each `data:` line is parsed with JSON.parse and written again with JSON.stringify), so
// the relay path does the least work a proxy that looks at the tokens can do.
// Usage: bun bench/load/proxy.ts --port N --upstream http://127.0.0.1:M

import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { port: { type: "string", default: "0" }, upstream: { type: "string" } } });
const upstream = values.upstream!.replace(/\/$/, "");
const enc = new TextEncoder();
let events = 0;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  idleTimeout: 0,
  async fetch(req) {
    const url = new URL(req.url);
    if (url.pathname === "/stats") return Response.json({ events });
    const res = await fetch(upstream + url.pathname, { method: req.method, headers: { "content-type": "application/json" }, body: req.method === "POST" ? await req.text() : undefined, signal: req.signal });
    if (!res.headers.get("content-type")?.includes("text/event-stream")) return new Response(await res.text(), { status: res.status, headers: { "content-type": res.headers.get("content-type") ?? "application/json" } });
    const decoder = new TextDecoder();
    let buf = "";
    const reader = res.body!.getReader();
    return new Response(
      new ReadableStream({
        async pull(c) {
          const { done, value } = await reader.read();
          if (done) return c.close();
          buf += decoder.decode(value, { stream: true });
          let out = "";
          let i: number;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const data = buf.slice(buf.startsWith("data: ") ? 6 : 5, i); // one `data:` line per event
            buf = buf.slice(i + 2);
            events++;
            out += data === "[DONE]" ? "data: [DONE]\n\n" : `data: ${JSON.stringify(JSON.parse(data))}\n\n`;
          }
          if (out) c.enqueue(enc.encode(out));
        },
        cancel: () => reader.cancel(),
      }),
      { status: res.status, headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } },
    );
  },
});
console.log(JSON.stringify({ event: "listening", port: server.port }));
process.on("SIGTERM", () => process.exit(0));
