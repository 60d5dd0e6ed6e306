// The documented /v2/ws frame schemas against a real ws-api session: frames WsClientFrame
// accepts are taken, frames it refuses get INVALID_PARAMS, and everything the session sends
// parses as WsServerFrame. Guards the published shapes against drift from ws-api.ts.

import { expect, test } from "bun:test";
import { createLogger, SimClock } from "../../../runtime/index.ts";
import type { ControlPort, StreamEvent, StreamSink } from "../../../contract/index.ts";
import { openWsSession, WS_CLOSE } from "../ws-api.ts";
import { WsClientFrame, WsServerFrame } from "./ws.ts";

const TOKEN = "ws-doc-token-0123456789";

/** One known task "t1" that runs started, token, metrics, end when subscribed. */
function fakePort(): ControlPort {
  const known = new Set<string>();
  const run: StreamEvent[] = [
    { type: "started", data: { queue_position: 0, predicted_start_ms: 0, pool_id: "p0" } },
    { type: "token", data: { t: "hi", i: 0 } },
    { type: "metrics", data: { queue_depth: 0, on_time_probability: 1, kv_warmth: false, tokens_budget_remaining: 1, time_budget_remaining_ms: 1, cost_budget_remaining: 1 } },
    { type: "end", data: { tokens_out: 1, decode_time_ms: 2, decode_ms: 2 } },
  ];
  const sinks = new Map<string, StreamSink>();
  const unused = () => Promise.reject(new Error("not used"));
  return {
    submit: async (request) => {
      if (request.model_ref === "busy") {
        return { ok: false, error: { code: "ADMISSION_REJECT", message: "queue full" } };
      }
      known.add(request.task_id!);
      return {
        ok: true,
        admission: { task_id: request.task_id!, queue_position: 0, predicted_start_ms: 0, backoff_ms: 0, streams: { sse: "/s", sse_verbose: "/s?verbose=true" } },
        budgets: { tokens_remaining: 1, time_remaining_ms: 1, cost_remaining: 1 },
      };
    },
    subscribe: async (id, sink) => {
      if (!known.has(id)) return undefined;
      if (id === "held") sinks.set(id, sink);
      else for (const e of run) sink.push(e);
      return { unsubscribe: () => {} };
    },
    cancel: async (id) => {
      if (!known.has(id)) return "unknown";
      sinks.get(id)?.push({ type: "end", data: { tokens_out: 0, decode_time_ms: 0, decode_ms: 0, canceled: true } });
      return "canceled";
    },
    ready: unused,
    nodes: unused,
    capabilities: unused,
  };
}

function session(identity: string | undefined) {
  const sent: unknown[] = [];
  let closed: number | undefined;
  const clock = new SimClock();
  const s = openWsSession({
    socket: { send: (text) => (sent.push(JSON.parse(text)), text.length), close: (code) => void (closed ??= code), bufferedAmount: () => 0 },
    port: fakePort(),
    clock,
    log: createLogger({ clock, sink: () => {} }),
    identity,
    token: TOKEN,
    correlationId: "c1",
  });
  const send = async (frame: unknown) => {
    const before = sent.length;
    s.receive(typeof frame === "string" ? frame : JSON.stringify(frame));
    await clock.flush();
    return sent.slice(before) as Array<Record<string, any>>;
  };
  return { send, sent, closed: () => closed };
}

const task = (task_id: string, model_ref = "tiny") => ({ task_id, model_ref, prompt: "hi", max_tokens: 1 });
const invalid = (replies: Array<Record<string, any>>) => replies.some((f) => f.type === "error" && !("task_id" in f) && f.error.code === "INVALID_PARAMS");

test("frames WsClientFrame accepts are taken; those it refuses are answered INVALID_PARAMS", async () => {
  const { send } = session("localhost");
  const accepted = [
    { type: "submit", task: task("t1") },
    { type: "submit", task: task("t2", "busy"), detach: true },
    { type: "subscribe", task_id: "t1", detach: false },
    { type: "subscribe", task_id: "nobody" },
    { type: "cancel", task_id: "nobody" },
    { type: "auth", token: "anything" },
  ];
  for (const frame of accepted) {
    expect(WsClientFrame.safeParse(frame).success, JSON.stringify(frame)).toBe(true);
    expect(invalid(await send(frame)), JSON.stringify(frame)).toBe(false);
  }
  const refused = [
    { type: "submit", task: task("t3"), extra: 1 },
    { type: "submit", task: { model_ref: "tiny" } },
    { type: "subscribe", task_id: "" },
    { type: "subscribe", task_id: "x".repeat(129) },
    { type: "cancel" },
    { type: "auth" },
    { type: "pause", task_id: "t1" },
  ];
  for (const frame of refused) {
    expect(WsClientFrame.safeParse(frame).success, JSON.stringify(frame)).toBe(false);
    expect(invalid(await send(frame)), JSON.stringify(frame)).toBe(true);
  }
});

test("every frame the session sends parses as WsServerFrame, each kind at least once", async () => {
  const { send, sent } = session("localhost");
  await send({ type: "submit", task: task("t1") });
  await send({ type: "submit", task: task("held") });
  await send({ type: "cancel", task_id: "held" });
  await send({ type: "submit", task: task("t2", "busy") });
  await send({ type: "subscribe", task_id: "nobody" });
  await send("{not json");
  const errorsOnTask = { type: "error", task_id: "t9", data: { code: "WORKER_RESET", message: "node lost", retriable: true, retry_after_ms: 1000 } };
  for (const frame of [...sent, errorsOnTask]) expect(WsServerFrame.safeParse(frame).success, JSON.stringify(frame)).toBe(true);
  const kinds = new Set((sent as Array<{ type: string }>).map((f) => f.type));
  expect([...kinds].sort()).toEqual(["admitted", "canceled", "end", "error", "metrics", "rejected", "started", "token"]);
  expect(WsServerFrame.safeParse({ type: "token", data: { t: "x", i: 0 } }).success).toBe(false); // stream frames name their task
});

test("first-message auth: a wrong token gets an error frame of the documented shape, then close 1008", async () => {
  const { send, closed } = session(undefined);
  const replies = await send({ type: "auth", token: "wrong-token-0123456789" });
  expect(replies).toHaveLength(1);
  expect(WsServerFrame.safeParse(replies[0]).success).toBe(true);
  expect(replies[0]!.error.code).toBe("BAD_TOKEN");
  expect(closed()).toBe(WS_CLOSE.policy);

  const ok = session(undefined);
  expect(await ok.send({ type: "auth", token: TOKEN })).toEqual([]);
  expect((await ok.send({ type: "submit", task: task("t1") }))[0]).toMatchObject({ type: "admitted", task_id: "t1" });
});
