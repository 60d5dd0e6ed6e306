// The client WebSocket /v2/ws against a real cluster, with a real `WebSocket` client: many tasks
// on one socket, a late subscriber on a second socket, cancel, what closing the socket cancels,
// auth by header and by first message, and the error frames a user sees.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import type { InspectEvent } from "../../runtime/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect } from "../harness/sse.ts";
import { openWs, wsUrl, type WsClient } from "../harness/ws.ts";

const TOKEN = "ws-cluster-token-0123456789";

let cluster: Cluster | undefined;
const sockets: WsClient[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) await s.close();
  await cluster?.close();
  cluster = undefined;
});

async function connect(headers: Record<string, string> = {}): Promise<WsClient> {
  const ws = await openWs(cluster!.url, headers);
  sockets.push(ws);
  return ws;
}

async function start(options: { faults?: ConstructorParameters<typeof MockEngine>[0]["faults"]; slots?: number; token?: string } = {}) {
  cluster = await startCluster({
    token: options.token,
    nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { slots: options.slots ?? 1 })] }],
    engineFactory: (_pool, _replica, clock) => new MockEngine({ clock, slots: options.slots ?? 1, faults: options.faults }),
  });
  await cluster.ready();
}

/** Resolves on the first actor-system event matching `pred` (no sleeping). */
function whenEvent(pred: (e: InspectEvent) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const off = cluster!.control.plane.system.events.on((e) => {
      if (pred(e)) {
        off();
        resolve();
      }
    });
  });
}

/** A task's stream frames (metrics aside, which a slow client may lose). */
const stream = (frames: any[]) => frames.filter((f) => f.type !== "metrics" && f.type !== "admitted");
const task = (id: string, max_tokens: number, extra: object = {}) => ({ task_id: id, model_ref: "tiny", prompt: `p-${id}`, max_tokens, ...extra });

test("many tasks on one socket: each gets admitted, then started, its tokens in order, end", async () => {
  await start({ slots: 2, faults: { tokenDelayMs: 1 } });
  const ws = await connect();
  const sizes = { a: 5, b: 8, c: 3, d: 6 };
  for (const [id, n] of Object.entries(sizes)) ws.send({ type: "submit", task: task(id, n) });
  for (const [id, n] of Object.entries(sizes)) {
    const frames = await ws.untilEnd(id);
    expect(frames[0]).toMatchObject({ type: "admitted", task_id: id, queue_position: expect.any(Number) });
    const events = stream(frames);
    expect(events.map((f) => f.type)).toEqual(["started", ...Array(n).fill("token"), "end"]);
    expect(events.filter((f) => f.type === "token").map((f) => f.data.i)).toEqual([...Array(n).keys()]);
    expect(events[0].data).toMatchObject({ pool_id: "p0", node_id: "n1" });
    expect(events.at(-1).data).toMatchObject({ tokens_out: n, decode_ms: expect.any(Number), decode_time_ms: expect.any(Number) });
  }
});

test("a second socket subscribing to a running task gets what it missed, then the live rest", async () => {
  await start({ faults: { tokenDelayMs: 2 } });
  const a = await connect();
  a.send({ type: "submit", task: task("shared", 40) });
  await a.next((f) => f.type === "token" && f.data.i === 5);
  const b = await connect();
  b.send({ type: "subscribe", task_id: "shared" });
  const seenByB = stream(await b.untilEnd("shared"));
  const seenByA = stream(await a.untilEnd("shared"));
  expect(seenByB).toEqual(seenByA);
  expect(seenByB.at(-1)).toMatchObject({ type: "end", data: { tokens_out: 40 } });
  expect(seenByB.at(-1).data.canceled).toBeUndefined();
});

test("cancel over the socket: ack, then no token, and the stream ends with end{canceled:true}", async () => {
  await start({ faults: { tokenDelayMs: 2 } });
  const ws = await connect();
  ws.send({ type: "submit", task: task("long", 5000) });
  await ws.next((f) => f.type === "token" && f.data.i === 2);
  ws.send({ type: "cancel", task_id: "long" });
  const frames = await ws.untilEnd("long");
  const ack = frames.findIndex((f) => f.type === "canceled");
  expect(ack).toBeGreaterThan(0);
  expect(frames.slice(ack + 1).map((f) => f.type)).toEqual(["end"]);
  const end = frames.at(-1);
  expect(end.data.canceled).toBe(true);
  expect(end.data.tokens_out).toBe(frames.filter((f) => f.type === "token").length);
  ws.send({ type: "cancel", task_id: "no-such-task" });
  expect(await ws.next((f) => f.task_id === "no-such-task")).toMatchObject({ type: "rejected", error: { code: "NOT_FOUND" } });
});

test("closing the socket cancels its task and frees the engine slot for the next one", async () => {
  // Every task hangs after one token: only a cancel ends one, so the next task runs only if the
  // closed socket's task was really canceled.
  await start({ faults: { hangAfterTokens: 1 } });
  const first = await connect();
  first.send({ type: "submit", task: task("abandoned", 100) });
  await first.next((f) => f.type === "token");
  const ended = whenEvent((e) => e.type === "delivered" && e.path === "control/scheduler" && e.msg === "task-ended");
  await first.close();
  await ended;
  const second = await connect();
  second.send({ type: "submit", task: task("next", 100) });
  expect(await second.next((f) => f.type === "token" && f.task_id === "next")).toMatchObject({ data: { i: 0 } });
  const replay = await collect(`${cluster!.url}/v2/tasks/abandoned/events`);
  expect(replay.frames.at(-1)).toMatchObject({ event: "end", data: { canceled: true } });
  second.send({ type: "cancel", task_id: "next" });
  await second.untilEnd("next");
});

test("a detached task keeps running after its socket closes, and SSE shows it finish", async () => {
  await start({ faults: { tokenDelayMs: 2 } });
  const ws = await connect();
  ws.send({ type: "submit", task: task("kept", 60), detach: true });
  await ws.next((f) => f.type === "token");
  // The socket's leaving has reached the task before anyone else watches it.
  const left = whenEvent((e) => e.type === "delivered" && e.path === "control/tasks/kept" && e.msg === "unsubscribe");
  await ws.close();
  await left;
  const sse = await collect(`${cluster!.url}/v2/tasks/kept/events`);
  expect(sse.status).toBe(200);
  const end = sse.frames.at(-1)!;
  expect(end).toMatchObject({ event: "end", data: { tokens_out: 60 } });
  expect(end.data.canceled).toBeUndefined();
});

test("bad frames: malformed JSON and an invalid task get INVALID_PARAMS; an unknown model is rejected", async () => {
  await start();
  const ws = await connect();
  ws.sendRaw("{nope");
  expect(await ws.next()).toEqual({ type: "error", error: { code: "INVALID_PARAMS", message: expect.stringContaining("JSON") } });
  ws.send({ type: "submit", task: { model_ref: "tiny", max_tokens: 0 } });
  expect(await ws.next()).toMatchObject({ type: "error", error: { code: "INVALID_PARAMS", message: expect.stringContaining("task.max_tokens") } });
  ws.send({ type: "submit", task: task("lost", 3, { model_ref: "no-such-model" }) });
  expect(await ws.next()).toMatchObject({
    type: "rejected",
    task_id: "lost",
    error: { code: "MODEL_NOT_AVAILABLE", retriable: true },
  });
  // The socket is still usable.
  ws.send({ type: "submit", task: task("fine", 2) });
  expect(stream(await ws.untilEnd("fine")).map((f) => f.type)).toEqual(["started", "token", "token", "end"]);
});

test("auth by Authorization header on the upgrade", async () => {
  await start({ token: TOKEN });
  const ws = await connect({ authorization: `Bearer ${TOKEN}` });
  ws.send({ type: "submit", task: task("h", 2) });
  expect(stream(await ws.untilEnd("h")).map((f) => f.type)).toEqual(["started", "token", "token", "end"]);
});

test("auth by first message: the right token works, a wrong one or another message first closes with 1008", async () => {
  await start({ token: TOKEN });
  const good = await connect();
  good.send({ type: "auth", token: TOKEN });
  good.send({ type: "submit", task: task("m", 1) });
  expect(stream(await good.untilEnd("m")).map((f) => f.type)).toEqual(["started", "token", "end"]);

  const wrong = await connect();
  wrong.send({ type: "auth", token: "not-the-token-0123456789" });
  expect(await wrong.next()).toMatchObject({ type: "error", error: { code: "BAD_TOKEN" } });
  expect((await wrong.closed).code).toBe(1008);

  const missing = await connect();
  missing.send({ type: "submit", task: task("sneaky", 1) });
  expect(await missing.next()).toMatchObject({ type: "error", error: { code: "MISSING_TOKEN" } });
  expect((await missing.closed).code).toBe(1008);
  const sneaky = await fetch(`${cluster!.url}/v2/tasks/sneaky/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(sneaky.status).toBe(404);
});

test("a bad Authorization header is refused with a 401 envelope before upgrading; the 101 carries the correlation id", async () => {
  await start({ token: TOKEN });
  const refused = await rawUpgrade(cluster!.url, { authorization: "Bearer wrong-token-0123456789", "x-correlation-id": "ws-corr-1" });
  expect(refused.status).toBe(401);
  expect(JSON.parse(refused.body)).toMatchObject({ code: "BAD_TOKEN", message: expect.any(String) });
  expect(refused.headers["x-correlation-id"]).toBe("ws-corr-1");
  const accepted = await rawUpgrade(cluster!.url, { authorization: `Bearer ${TOKEN}`, "x-correlation-id": "ws-corr-2" });
  expect(accepted.status).toBe(101);
  expect(accepted.headers["x-correlation-id"]).toBe("ws-corr-2");
});

/** Sends an upgrade request over a plain TCP socket and reads the response head (and body). */
async function rawUpgrade(base: string, headers: Record<string, string>) {
  const url = new URL(wsUrl(base));
  const lines = [
    `GET ${url.pathname} HTTP/1.1`,
    `Host: ${url.host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
    `Sec-WebSocket-Key: ${btoa("0123456789abcdef")}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  let text = "";
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const complete = () => {
    const head = text.indexOf("\r\n\r\n");
    if (head < 0) return false;
    const length = /content-length:\s*(\d+)/i.exec(text.slice(0, head));
    return text.startsWith("HTTP/1.1 101") || text.length >= head + 4 + Number(length?.[1] ?? 0);
  };
  const socket = await Bun.connect({
    hostname: url.hostname,
    port: Number(url.port),
    socket: {
      data(_s, chunk) {
        text += new TextDecoder().decode(chunk);
        if (complete()) done();
      },
      close: () => done(),
    },
  });
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  await finished;
  socket.end();
  const [head = "", body = ""] = text.split("\r\n\r\n");
  const [status, ...rest] = head.split("\r\n");
  const parsed: Record<string, string> = {};
  for (const line of rest) {
    const at = line.indexOf(":");
    parsed[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
  }
  return { status: Number(status!.split(" ")[1]), headers: parsed, body };
}
