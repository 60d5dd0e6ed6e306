// Connection limits that must not hurt legitimate clients, against real processes with a 1 s idle
// timeout (ORCHD_IDLE_TIMEOUT_S=1): a stream whose task waits in the queue, silent for longer than
// the timeout, is kept open to its end (SSE and OpenAI streaming); and a chunked body that grows past
// the body limit is refused with 413 while it is still being sent, not buffered to its end.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnService, type Service } from "../harness/process.ts";
import { collect, submitTask } from "../harness/sse.ts";

const services: Service[] = [];
let dir: string;
let base: string;
const BODY_LIMIT = 65_536;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "llorch-idle-"));
  const pools = join(dir, "pools.yaml");
  // One slot, 250 ms a token: a 40-token task holds the pool for about 10 s. Bun checks idle
  // timeouts on a 4 s tick, so a 1 s timeout closes a silent connection after 4 to 8 s.
  writeFileSync(pools, ["pools:", "  - id: p0", "    engine: mock", "    model: tiny", "    slots: 1", "    allow_cpu: true", "    mock:", "      token_delay_ms: 250", ""].join("\n"));
  const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"], { LLORCH_API_TOKEN: "", ORCHD_IDLE_TIMEOUT_S: "1", ORCHD_MAX_BODY_BYTES: String(BODY_LIMIT), ORCHD_SSE_METRICS_INTERVAL_MS: "0" });
  services.push(control);
  base = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
  const node = spawnService(["actors/node/main.ts", "--control", base, "--config", pools, "--addr", "127.0.0.1:0", "--node-id", "n1"], { LLORCH_API_TOKEN: "" });
  services.push(node);
  await control.waitFor((l) => l.msg === "Pool p0 on node n1 is ready", "pool p0 ready");
});
afterAll(async () => {
  for (const s of services.splice(0).reverse()) await s.stop("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("a queued task's SSE and OpenAI streams stay open past the idle timeout and reach their end", async () => {
  const busy = await submitTask(base, { model_ref: "tiny", prompt: "busy", max_tokens: 40 });
  const queued = await submitTask(base, { model_ref: "tiny", prompt: "queued", max_tokens: 2 });
  expect([busy.status, queued.status]).toEqual([202, 202]);
  const openai = fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "queued too" }], max_tokens: 2, stream: true }),
  }).then((r) => r.text());
  const sse = await collect(`${base}${queued.json.streams.sse}`);
  expect(sse.frames.map((f) => f.event)).toEqual(["started", "token", "token", "end"]);
  const text = await openai;
  expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
}, 30_000);

test("a chunked body that grows past the limit is answered 413 before it ends", async () => {
  const { hostname, port } = new URL(base);
  let received = "";
  let done!: () => void;
  const answered = new Promise<void>((r) => (done = r));
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data: (_s, chunk) => {
        received += chunk.toString("latin1");
        if (received.includes("\r\n\r\n")) done();
      },
      close: () => done(),
      error: () => done(),
    },
  });
  try {
    socket.write(`POST /v2/artifacts HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    // Four times the limit, and never the last chunk: a server that read the body to its end
    // before checking its size would never answer.
    for (let i = 0; i < (4 * BODY_LIMIT) / 0x4000; i++) socket.write(`4000\r\n${"x".repeat(0x4000)}\r\n`);
    await answered;
    expect(received).toStartWith("HTTP/1.1 413");
  } finally {
    socket.end();
  }
}, 20_000);
