// The /v2/ws session against a fake socket and a fake ControlPort: the frame protocol, auth by
// header and by first message, per-socket limits, what a closed socket cancels, and
// backpressure (metrics dropped first, nothing else lost, a hard bound closes with 1013).

import { expect, test } from "bun:test";
import { createLogger, SimClock } from "../../runtime/index.ts";
import type { ControlPort, StreamEvent, StreamSink, TaskRequestV2 } from "../../contract/index.ts";
import { openWsSession, upgradeAuth, type WsLimits } from "./ws-api.ts";

const TOKEN = "ws-client-token-0123456789";

class FakeSocket {
  texts: string[] = [];
  closedWith?: { code: number; reason: string };
  buffered = 0;
  /** Statuses the next sends return; a positive number once these run out. */
  statuses: number[] = [];
  send(text: string): number {
    if (this.closedWith) return 0;
    const status = this.statuses.shift() ?? text.length;
    if (status !== 0) this.texts.push(text);
    return status;
  }
  close(code: number, reason: string) {
    this.closedWith ??= { code, reason };
  }
  bufferedAmount() {
    return this.buffered;
  }
  get frames(): any[] {
    return this.texts.map((t) => JSON.parse(t));
  }
}

interface FakeTask {
  sinks: Set<StreamSink>;
  events: StreamEvent[];
  ended: boolean;
}

/** Mirrors the task actor: replay on subscribe, the canceled `end` pushed before cancel resolves. */
class FakePort {
  tasks = new Map<string, FakeTask>();
  canceled: { id: string; reason: string }[] = [];
  unsubscribed: { id: string; cancelIfLast: boolean }[] = [];
  /** When set, submit waits on it (a submit still in flight). */
  gate?: Promise<void>;

  submit: ControlPort["submit"] = async (request) => {
    await this.gate;
    if (request.model_ref !== "tiny") {
      return { ok: false, error: { code: "MODEL_NOT_AVAILABLE", message: "no node serves it", retriable: true, retry_after_ms: 1000 } };
    }
    const id = request.task_id!;
    if (this.tasks.has(id)) return { ok: false, error: { code: "INVALID_PARAMS", message: "exists" } };
    this.tasks.set(id, { sinks: new Set(), events: [], ended: false });
    return {
      ok: true,
      admission: { task_id: id, queue_position: 0, predicted_start_ms: 0, backoff_ms: 0 },
      budgets: { tokens_remaining: 1, time_remaining_ms: 1, cost_remaining: 1 },
    };
  };
  subscribe: ControlPort["subscribe"] = async (id, sink) => {
    const task = this.tasks.get(id);
    if (!task) return undefined;
    for (const e of task.events) sink.push(e);
    if (!task.ended) task.sinks.add(sink);
    return {
      unsubscribe: (opts = {}) => {
        this.unsubscribed.push({ id, cancelIfLast: opts.cancelIfLast ?? false });
        if (task.sinks.delete(sink) && opts.cancelIfLast && task.sinks.size === 0) this.end(id, "disconnect");
      },
    };
  };
  cancel: ControlPort["cancel"] = async (id, reason) => {
    if (!this.tasks.has(id)) return "unknown";
    this.end(id, reason);
    return "canceled";
  };
  emit(id: string, event: StreamEvent) {
    const task = this.tasks.get(id)!;
    if (task.ended) return;
    task.events.push(event);
    for (const s of task.sinks) s.push(event);
    if (event.type === "end" || event.type === "error") {
      task.ended = true;
      task.sinks.clear();
    }
  }
  end(id: string, reason: string) {
    if (this.tasks.get(id)?.ended) return;
    this.canceled.push({ id, reason });
    this.emit(id, { type: "end", data: { tokens_out: 0, decode_time_ms: 0, decode_ms: 0, canceled: true } });
  }
  /** started, n tokens, end. */
  run(id: string, n: number) {
    this.emit(id, { type: "started", data: { queue_position: 0, predicted_start_ms: 0 } });
    for (let i = 0; i < n; i++) this.emit(id, { type: "token", data: { t: `t${i}`, i } });
    this.emit(id, { type: "end", data: { tokens_out: n, decode_time_ms: 1, decode_ms: 1 } });
  }
  asPort(): ControlPort {
    const fail = () => Promise.reject(new Error("not used"));
    return { submit: this.submit, subscribe: this.subscribe, cancel: this.cancel, ready: fail, nodes: fail, capabilities: fail } as ControlPort;
  }
}

function setup(opts: { identity?: string | null; limits?: Partial<WsLimits> } = {}) {
  const socket = new FakeSocket();
  const port = new FakePort();
  const clock = new SimClock();
  const lines: any[] = [];
  let drops = 0;
  const session = openWsSession({
    socket,
    port: port.asPort(),
    clock,
    log: createLogger({ clock, sink: (l) => lines.push(JSON.parse(l)), level: "debug" }),
    identity: opts.identity === null ? undefined : (opts.identity ?? "localhost"),
    token: TOKEN,
    correlationId: "corr-1",
    limits: opts.limits,
    onBackpressureDrop: () => drops++,
  });
  const send = async (frame: unknown) => {
    session.receive(JSON.stringify(frame));
    await clock.flush();
  };
  const task = (id: string, extra: Partial<TaskRequestV2> = {}) => ({ task_id: id, model_ref: "tiny", prompt: "hi", max_tokens: 3, ...extra });
  return { socket, port, clock, session, send, task, lines, drops: () => drops };
}

const kinds = (frames: any[], id: string) => frames.filter((f) => f.task_id === id).map((f) => f.type);

test("upgradeAuth: a missing header defers to the first message; a bad one is refused", () => {
  expect(upgradeAuth(undefined, { token: TOKEN })).toEqual({ ok: "deferred" });
  expect(upgradeAuth(`Bearer ${TOKEN}`, { token: TOKEN })).toMatchObject({ ok: true });
  expect(upgradeAuth("Bearer wrong-token-0123456789", { token: TOKEN })).toMatchObject({ ok: false, code: "BAD_TOKEN" });
  expect(upgradeAuth("Basic abc", { token: TOKEN })).toMatchObject({ ok: false, code: "MISSING_TOKEN" });
  expect(upgradeAuth(undefined, {})).toEqual({ ok: true, identity: "localhost" });
  expect(upgradeAuth(undefined, { token: TOKEN, authOptional: true, remoteLoopback: true })).toMatchObject({ ok: true });
});

test("many tasks on one socket: admitted, then each task's events in order, tagged by task_id", async () => {
  const t = setup();
  await t.send({ type: "submit", task: t.task("a") });
  await t.send({ type: "submit", task: t.task("b") });
  t.port.emit("a", { type: "started", data: { queue_position: 0, predicted_start_ms: 0 } });
  t.port.run("b", 2);
  t.port.emit("a", { type: "token", data: { t: "x", i: 0 } });
  t.port.emit("a", { type: "end", data: { tokens_out: 1, decode_time_ms: 1, decode_ms: 1 } });
  expect(kinds(t.socket.frames, "a")).toEqual(["admitted", "started", "token", "end"]);
  expect(kinds(t.socket.frames, "b")).toEqual(["admitted", "started", "token", "token", "end"]);
  expect(t.socket.frames.find((f) => f.task_id === "b" && f.type === "token")).toEqual({ type: "token", task_id: "b", data: { t: "t0", i: 0 } });
  expect(t.session.tasks()).toBe(0);
  expect(t.socket.closedWith).toBeUndefined();
});

test("a task without task_id gets one, and a rejection names it", async () => {
  const t = setup();
  await t.send({ type: "submit", task: { model_ref: "tiny", max_tokens: 2 } });
  const admitted = t.socket.frames[0];
  expect(admitted.type).toBe("admitted");
  expect(admitted.task_id).toMatch(/^[0-9a-f-]{36}$/);
  await t.send({ type: "submit", task: { model_ref: "nope", max_tokens: 2 } });
  const rejected = t.socket.frames[1];
  expect(rejected).toMatchObject({ type: "rejected", error: { code: "MODEL_NOT_AVAILABLE", retriable: true } });
  expect(typeof rejected.task_id).toBe("string");
});

test("malformed frames get INVALID_PARAMS error frames and the socket stays open", async () => {
  const t = setup();
  t.session.receive("{not json");
  await t.send({ type: "submit", task: { model_ref: "tiny" } });
  await t.send({ type: "dance" });
  await t.send({ type: "cancel", task_id: "" });
  t.session.receive(new Uint8Array([1, 2, 3]));
  const errors = t.socket.frames;
  expect(errors.map((f) => [f.type, f.error.code])).toEqual(Array(5).fill(["error", "INVALID_PARAMS"]));
  expect(errors[0].error.message).toContain("JSON");
  expect(errors[1].error.message).toStartWith("task.max_tokens");
  expect(t.socket.closedWith).toBeUndefined();
  await t.send({ type: "submit", task: t.task("ok") });
  expect(t.socket.frames.at(-1)).toMatchObject({ type: "admitted", task_id: "ok" });
});

test("a frame over the size limit is refused with INVALID_PARAMS and close 1009", async () => {
  const t = setup({ limits: { maxFrameBytes: 100 } });
  await t.send({ type: "submit", task: t.task("big", { prompt: "x".repeat(200) }) });
  expect(t.socket.frames).toEqual([{ type: "error", error: { code: "INVALID_PARAMS", message: expect.stringContaining("exceeds") } }]);
  expect(t.socket.closedWith?.code).toBe(1009);
  expect(t.port.tasks.size).toBe(0);
});

test("first-message auth: the right token opens the socket for work", async () => {
  const t = setup({ identity: null });
  await t.send({ type: "auth", token: TOKEN });
  await t.send({ type: "submit", task: t.task("a") });
  expect(t.socket.frames).toEqual([expect.objectContaining({ type: "admitted", task_id: "a" })]);
  await t.clock.advance(20_000);
  expect(t.socket.closedWith).toBeUndefined();
});

test("first-message auth: a wrong token is BAD_TOKEN and close 1008; the log has the fp6, not the token", async () => {
  const t = setup({ identity: null });
  await t.send({ type: "auth", token: "wrong-token-0123456789" });
  expect(t.socket.frames).toEqual([{ type: "error", error: { code: "BAD_TOKEN", message: expect.any(String) } }]);
  expect(t.socket.closedWith?.code).toBe(1008);
  const warn = t.lines.find((l) => l.level === "warn");
  expect(warn.identity).toMatch(/^token:[0-9a-f]{6}$/);
  expect(JSON.stringify(t.lines)).not.toContain("wrong-token");
  await t.send({ type: "submit", task: t.task("a") });
  expect(t.port.tasks.size).toBe(0);
});

test("first-message auth: any other first message, or bad JSON, is MISSING_TOKEN and close 1008", async () => {
  for (const first of [JSON.stringify({ type: "submit", task: { model_ref: "tiny", max_tokens: 1 } }), "{oops"]) {
    const t = setup({ identity: null });
    t.session.receive(first);
    await t.clock.flush();
    expect(t.socket.frames).toEqual([{ type: "error", error: { code: "MISSING_TOKEN", message: expect.any(String) } }]);
    expect(t.socket.closedWith?.code).toBe(1008);
    expect(t.port.tasks.size).toBe(0);
  }
});

test("first-message auth: no auth message within 10 s closes the socket", async () => {
  const t = setup({ identity: null });
  await t.clock.advance(9_999);
  expect(t.socket.closedWith).toBeUndefined();
  await t.clock.advance(1);
  expect(t.socket.frames).toEqual([{ type: "error", error: { code: "MISSING_TOKEN", message: expect.stringContaining("10000") } }]);
  expect(t.socket.closedWith?.code).toBe(1008);
});

test("cancel: the ack comes first, then end{canceled:true}, and no token after the ack", async () => {
  const t = setup();
  await t.send({ type: "submit", task: t.task("a") });
  t.port.emit("a", { type: "started", data: { queue_position: 0, predicted_start_ms: 0 } });
  t.port.emit("a", { type: "token", data: { t: "x", i: 0 } });
  await t.send({ type: "cancel", task_id: "a" });
  t.port.emit("a", { type: "token", data: { t: "late", i: 1 } });
  expect(kinds(t.socket.frames, "a")).toEqual(["admitted", "started", "token", "canceled", "end"]);
  expect(t.socket.frames.at(-1).data).toMatchObject({ canceled: true });
  expect(t.port.canceled).toEqual([{ id: "a", reason: "client" }]);
  await t.send({ type: "cancel", task_id: "ghost" });
  expect(t.socket.frames.at(-1)).toMatchObject({ type: "rejected", task_id: "ghost", error: { code: "NOT_FOUND" } });
});

test("subscribe: a late subscriber gets what it missed, then live events; unknown and duplicate are rejected", async () => {
  const t = setup();
  await t.port.submit({ ...t.task("a"), workload: "completion", ctx: 0, priority: "interactive" } as TaskRequestV2, { correlationId: "x" });
  t.port.emit("a", { type: "started", data: { queue_position: 0, predicted_start_ms: 0 } });
  t.port.emit("a", { type: "token", data: { t: "x", i: 0 } });
  await t.send({ type: "subscribe", task_id: "a" });
  expect(kinds(t.socket.frames, "a")).toEqual(["started", "token"]);
  await t.send({ type: "subscribe", task_id: "a" });
  expect(t.socket.frames.at(-1)).toMatchObject({ type: "rejected", task_id: "a", error: { code: "INVALID_PARAMS" } });
  t.port.emit("a", { type: "end", data: { tokens_out: 1, decode_time_ms: 1, decode_ms: 1 } });
  expect(kinds(t.socket.frames, "a")).toEqual(["started", "token", "rejected", "end"]);
  await t.send({ type: "subscribe", task_id: "ghost" });
  expect(t.socket.frames.at(-1)).toMatchObject({ type: "rejected", task_id: "ghost", error: { code: "NOT_FOUND" } });
});

test("a closed socket cancels its own tasks but not detached ones", async () => {
  const t = setup();
  await t.send({ type: "submit", task: t.task("mine") });
  await t.send({ type: "submit", task: t.task("kept"), detach: true });
  t.session.closed(1001);
  expect(t.port.canceled).toEqual([{ id: "mine", reason: "disconnect" }]);
  expect(t.port.unsubscribed).toEqual([
    { id: "mine", cancelIfLast: true },
    { id: "kept", cancelIfLast: false },
  ]);
  expect(t.port.tasks.get("kept")!.ended).toBe(false);
  expect(t.session.tasks()).toBe(0);
});

test("a socket that closes while its submit is in flight cancels the task once admitted", async () => {
  const t = setup();
  let open!: () => void;
  t.port.gate = new Promise((r) => (open = r));
  await t.send({ type: "submit", task: t.task("a") });
  await t.send({ type: "submit", task: t.task("d"), detach: true });
  t.session.closed(1006);
  open();
  await t.clock.flush();
  expect(t.port.canceled).toEqual([{ id: "a", reason: "disconnect" }]);
  expect(t.socket.frames).toEqual([]);
});

test("per-socket task limit: a submit past it is rejected with retry fields, and a finished task frees a place", async () => {
  const t = setup({ limits: { maxTasks: 2 } });
  await t.send({ type: "submit", task: t.task("a") });
  await t.send({ type: "submit", task: t.task("b") });
  await t.send({ type: "submit", task: t.task("c") });
  expect(t.socket.frames.at(-1)).toMatchObject({
    type: "rejected",
    task_id: "c",
    error: { code: "ADMISSION_REJECT", retriable: true, retry_after_ms: 1000 },
  });
  expect(t.port.tasks.has("c")).toBe(false);
  t.port.run("a", 1);
  await t.send({ type: "submit", task: t.task("c") });
  expect(t.socket.frames.at(-1)).toMatchObject({ type: "admitted", task_id: "c" });
});

test("backpressure: metrics are dropped and counted, every other frame arrives in order after drain", async () => {
  const t = setup({ limits: { softBufferBytes: 1000 } });
  await t.send({ type: "submit", task: t.task("a") });
  const metrics: StreamEvent = { type: "metrics", data: { queue_depth: 0, on_time_probability: 1, kv_warmth: false, tokens_budget_remaining: 1, time_budget_remaining_ms: 1, cost_budget_remaining: 1 } };
  t.port.emit("a", metrics);
  t.socket.buffered = 5000; // the client stopped reading
  t.port.emit("a", { type: "started", data: { queue_position: 0, predicted_start_ms: 0 } });
  t.port.emit("a", metrics);
  t.port.emit("a", { type: "token", data: { t: "x", i: 0 } });
  t.port.emit("a", metrics);
  t.port.emit("a", { type: "end", data: { tokens_out: 1, decode_time_ms: 1, decode_ms: 1 } });
  expect(kinds(t.socket.frames, "a")).toEqual(["admitted", "metrics"]);
  expect(t.drops()).toBe(2);
  t.session.drain(); // still full: nothing moves
  expect(t.socket.frames.length).toBe(2);
  t.socket.buffered = 0;
  t.session.drain();
  expect(kinds(t.socket.frames, "a")).toEqual(["admitted", "metrics", "started", "token", "end"]);
});

test("backpressure: after send returns -1 metrics drop until drain; a dropped send (0) is retried", async () => {
  const t = setup();
  await t.send({ type: "submit", task: t.task("a") });
  const metrics: StreamEvent = { type: "metrics", data: { queue_depth: 0, on_time_probability: 1, kv_warmth: false, tokens_budget_remaining: 1, time_budget_remaining_ms: 1, cost_budget_remaining: 1 } };
  t.socket.statuses = [-1, 0];
  t.port.emit("a", { type: "started", data: { queue_position: 0, predicted_start_ms: 0 } }); // -1: sent, but pressured
  t.port.emit("a", metrics);
  t.port.emit("a", { type: "token", data: { t: "x", i: 0 } });
  expect(t.drops()).toBe(1);
  t.session.drain(); // the token's send returns 0: kept for the next drain
  expect(kinds(t.socket.frames, "a")).toEqual(["admitted", "started"]);
  t.session.drain();
  t.port.emit("a", metrics);
  expect(kinds(t.socket.frames, "a")).toEqual(["admitted", "started", "token", "metrics"]);
});

test("backpressure: a backlog past the hard bound closes with 1013 and cancels the socket's tasks", async () => {
  const t = setup({ limits: { softBufferBytes: 10, maxBacklogBytes: 2000 } });
  await t.send({ type: "submit", task: t.task("a") });
  await t.send({ type: "submit", task: t.task("d"), detach: true });
  t.socket.buffered = 100;
  for (let i = 0; i < 100 && !t.socket.closedWith; i++) t.port.emit("a", { type: "token", data: { t: "x".repeat(20), i } });
  expect(t.socket.closedWith?.code).toBe(1013);
  expect(t.port.canceled).toEqual([{ id: "a", reason: "disconnect" }]);
  expect(t.port.tasks.get("d")!.ended).toBe(false);
  expect(t.lines.some((l) => l.level === "warn" && l.msg.includes("too slowly"))).toBe(true);
});
