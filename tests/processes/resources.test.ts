// Bounds on what an unauthenticated peer can hold, against a real control-plane process: idle
// keep-alive sockets are closed, an oversized WebSocket frame is refused (1009) before it is
// buffered, and heartbeats to ids nobody registered add no metric series.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnService, type Service } from "../harness/process.ts";

let control: Service;
let base: string;
beforeAll(async () => {
  control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"], { LLORCH_API_TOKEN: "", ORCHD_IDLE_TIMEOUT_S: "1" });
  base = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
});
afterAll(async () => {
  await control?.stop();
});

test("an idle keep-alive connection is closed by the server", async () => {
  const { hostname, port } = new URL(base);
  let received = "";
  let closed!: () => void;
  const gone = new Promise<void>((r) => (closed = r));
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data: (_s, chunk) => void (received += chunk.toString()),
      close: () => closed(),
    },
  });
  try {
    socket.write(`GET /health HTTP/1.1\r\nHost: ${hostname}\r\nConnection: keep-alive\r\n\r\n`);
    await gone; // the test's timeout is the bound: without an idle timeout this never resolves
    expect(received).toStartWith("HTTP/1.1 200");
  } finally {
    socket.end();
  }
}, 20_000);

test("a /v2/ws frame over 1 MiB closes the socket with 1009 before auth, and the process stays up", async () => {
  const ws = new WebSocket(base.replace(/^http/, "ws") + "/v2/ws");
  try {
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const closed = new Promise<number>((r) => (ws.onclose = (e) => r(e.code)));
    ws.send("x".repeat(2 * 1024 * 1024));
    expect(await closed).toBe(1009);
  } finally {
    ws.close();
  }
  expect((await fetch(`${base}/health`)).status).toBe(200);
});

test("2,000 heartbeats to random node ids leave /metrics the same size", async () => {
  const scrape = async () => (await (await fetch(`${base}/metrics`)).text()).length;
  const heartbeat = (id: string) =>
    fetch(`${base}/v2/nodes/${id}/heartbeat`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ pools: [] }) });
  // The first refused heartbeat may add the one shared series for unknown nodes.
  expect((await heartbeat("warm-up")).status).toBe(404);
  const before = await scrape();
  for (let batch = 0; batch < 20; batch++) {
    const statuses = await Promise.all(Array.from({ length: 100 }, () => heartbeat(`n-${crypto.randomUUID()}`).then((r) => r.status)));
    expect(statuses.every((s) => s === 404)).toBe(true);
  }
  const after = await scrape();
  // Counter values may gain digits; a series per id would add ~60 bytes each (120 KB).
  expect(Math.abs(after - before)).toBeLessThan(64);
}, 60_000);
