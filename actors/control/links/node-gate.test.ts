// The node link gate on its own: what a link may send where, the link id added to registry
// messages, late frames of a task that ended on this link dropped quietly, and the hand-written
// token checks held to the zod schemas they stand in for.

import { describe, expect, test } from "bun:test";
import type { Envelope } from "../../../adapters/transport/index.ts";
import { EngineTokenPayload, EngineTokensPayload, isEngineTokenPayload, isEngineTokensPayload, MAX_TOKENS_PER_BATCH, MAX_TOP_TOKEN_CHARS } from "../../../contract/link.ts";
import { MAX_TOP_LOGPROBS } from "../../../contract/engine.ts";
import { createLinkBook, TaskLinks } from "./link-book.ts";
import { nodeLinkGate } from "./node-gate.ts";

const env = (to: string, payload: { type: string } & Record<string, unknown>): Envelope => ({ v: 1, id: "e1", to, type: payload.type, payload });
const tokens = (from: number, t: unknown) => ({ type: "engine-tokens", from, t });

describe("node link gate", () => {
  test("a task hears only the link it was dispatched over; late frames from that link are quiet", () => {
    const book = createLinkBook();
    const gate = nodeLinkGate("L1", book);
    const other = nodeLinkGate("L2", book);
    book.tasks.bind("t1", "L1");
    expect(gate(env("control/tasks/t1", tokens(0, ["a"])))).toEqual({ ok: true });
    expect(other(env("control/tasks/t1", tokens(0, ["a"])))).toMatchObject({ ok: false, code: "ACTOR_STOPPED", reason: "task", quiet: false });
    book.tasks.release("t1");
    expect(gate(env("control/tasks/t1", tokens(1, ["b"])))).toMatchObject({ ok: false, reason: "task", quiet: true });
    expect(other(env("control/tasks/t1", tokens(1, ["b"])))).toMatchObject({ ok: false, reason: "task", quiet: false });
    expect(gate(env("control/tasks/t1", { type: "subscribe" }))).toMatchObject({ ok: false, code: "INVALID_MESSAGE", reason: "type" });
    book.tasks.bind("t2", "L1");
    expect(gate(env("control/tasks/t2", tokens(-1, ["a"])))).toMatchObject({ ok: false, code: "INVALID_MESSAGE", reason: "payload" });
    expect(gate(env("control/tasks/t2", { type: "engine-end", tokens_out: 1, decode_ms: 2, stop_reason: "bored" }))).toMatchObject({ ok: false, reason: "payload" });
    expect(gate(env("control/tasks/t2", { type: "engine-end", tokens_out: 1, decode_ms: 2, stop_reason: "stop" }))).toEqual({ ok: true });
  });

  test("engine-end may carry the model's tool calls, checked against their schema", () => {
    const book = createLinkBook();
    const gate = nodeLinkGate("L1", book);
    book.tasks.bind("t1", "L1");
    const end = (tool_calls: unknown) => env("control/tasks/t1", { type: "engine-end", tokens_out: 9, decode_ms: 2, stop_reason: "stop", tool_calls });
    const call = { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } };
    expect(gate(end([call]))).toEqual({ ok: true });
    for (const bad of [[], [{ ...call, type: "code" }], [{ ...call, function: { name: "bad name!", arguments: "{}" } }], [{ ...call, extra: 1 }], Array(65).fill(call), "x"]) {
      expect(gate(end(bad))).toMatchObject({ ok: false, code: "INVALID_MESSAGE", reason: "payload" });
    }
  });

  test("registry messages: register binds nothing by itself; after the binding only that node id, with the link id added", () => {
    const book = createLinkBook();
    const gate = nodeLinkGate("L1", book);
    const reg = (node_id: string) => env("control/registry", { type: "register", node_id, pools: [], agent: { $ref: "node/agent" } });
    expect(gate(env("control/registry", { type: "heartbeat", node_id: "n1", pools: [] }))).toMatchObject({ ok: false, reason: "node" });
    expect(gate(reg("n1"))).toEqual({ ok: true });
    book.nodes.bind("L1", "n1"); // what the registry does on a successful registration
    expect(gate(reg("n2"))).toMatchObject({ ok: false, code: "INVALID_MESSAGE", reason: "node" });
    expect(gate(env("control/registry", { type: "heartbeat", node_id: "n1", pools: [] }))).toEqual({ ok: true, payload: { type: "heartbeat", node_id: "n1", pools: [], link_id: "L1" } });
    expect(gate(env("control/registry", { type: "heartbeat", node_id: "n1", pools: [], link_id: "L9" }))).toMatchObject({ ok: false, reason: "payload" });
    expect(gate(env("control/registry", { type: "deregister", node_id: "n2" }))).toMatchObject({ ok: false, reason: "node" });
    expect(gate(env("control/registry", { type: "link-down", link_id: "L2", reason: "x" }))).toMatchObject({ ok: false, reason: "type" });
    expect(gate(env("control/registry", { type: "__proto__" }))).toMatchObject({ ok: false, reason: "type" });
    expect(gate(env("control/elsewhere", { type: "x" }))).toMatchObject({ ok: false, code: "ACTOR_STOPPED", reason: "path" });
  });

  test("ended tasks are remembered up to a bound, oldest first out", () => {
    const links = new TaskLinks(2);
    for (const id of ["a", "b", "c"]) {
      links.bind(id, "L1");
      links.release(id);
    }
    expect([links.endedOn("a"), links.endedOn("b"), links.endedOn("c")]).toEqual([undefined, "L1", "L1"]);
    expect(links.size).toEqual({ running: 0, ended: 2 });
  });

  test("the hand-written token checks accept exactly what the zod schemas accept", () => {
    const long = "x".repeat(65_537);
    const payloads: unknown[] = [
      { type: "engine-token", t: "a", i: 0 },
      { type: "engine-token", t: "a", i: -1 },
      { type: "engine-token", t: "a", i: 1.5 },
      { type: "engine-token", t: 3, i: 0 },
      { type: "engine-token", t: long, i: 0 },
      { type: "engine-token", t: "a", i: 0, x: 1 },
      { type: "engine-token", t: "a" },
      { type: "engine-tokens", from: 0, t: ["a", "b"] },
      { type: "engine-tokens", from: 0, t: [] },
      { type: "engine-tokens", from: 0, t: ["a", 1] },
      { type: "engine-tokens", from: 0, t: "ab" },
      { type: "engine-tokens", from: Number.MAX_SAFE_INTEGER + 2, t: ["a"] },
      { type: "engine-tokens", from: 0, t: Array(MAX_TOKENS_PER_BATCH + 1).fill("a") },
      { type: "engine-tokens", from: 0, t: Array(MAX_TOKENS_PER_BATCH).fill("a") },
      { type: "engine-tokens", from: 0, t: [long] },
      { type: "engine-tokens", from: "0", t: ["a"] },
      { type: "engine-tokens", from: 0, t: ["a"], extra: null },
      null,
      [],
      "engine-token",
      { type: "engine-token", t: "a", i: Number.NaN },
      // Log probabilities (a task that asked for them): bounded, finite, at most 0, parallel to t.
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -0.5 } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: 0, top: [] } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -1, top: [{ t: "a", logprob: -1 }, { t: "b", logprob: -2 }] } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: 0.1 } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -Infinity } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: Number.NaN } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: "-1" } },
      { type: "engine-token", t: "a", i: 0, lp: {} },
      { type: "engine-token", t: "a", i: 0, lp: null },
      { type: "engine-token", t: "a", i: 0, lp: [] },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -1, x: 1 } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -1, top: {} } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -1, top: Array(MAX_TOP_LOGPROBS).fill({ t: "a", logprob: -1 }) } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -1, top: Array(MAX_TOP_LOGPROBS + 1).fill({ t: "a", logprob: -1 }) } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -1, top: [{ t: "x".repeat(MAX_TOP_TOKEN_CHARS + 1), logprob: -1 }] } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -1, top: [{ t: "a", logprob: 1 }] } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -1, top: [{ t: "a", logprob: -1, id: 3 }] } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -1, top: [{ t: 1, logprob: -1 }] } },
      { type: "engine-token", t: "a", i: 0, lp: { logprob: -1, top: [null] } },
      { type: "engine-tokens", from: 0, t: ["a", "b"], lp: [{ logprob: -1 }, { logprob: -2, top: [{ t: "c", logprob: -3 }] }] },
      { type: "engine-tokens", from: 0, t: ["a", "b"], lp: [{ logprob: -1 }] },
      { type: "engine-tokens", from: 0, t: ["a"], lp: [{ logprob: -1 }, { logprob: -1 }] },
      { type: "engine-tokens", from: 0, t: ["a"], lp: [{ logprob: 1 }] },
      { type: "engine-tokens", from: 0, t: ["a"], lp: [null] },
      { type: "engine-tokens", from: 0, t: ["a"], lp: { logprob: -1 } },
      { type: "engine-tokens", from: 0, t: ["a"], lp: null },
      { type: "engine-tokens", from: 0, t: ["a"], lp: [{ logprob: -1 }], extra: 1 },
    ];
    for (const p of payloads) {
      expect([p, isEngineTokenPayload(p)]).toEqual([p, EngineTokenPayload.safeParse(p).success]);
      expect([p, isEngineTokensPayload(p)]).toEqual([p, EngineTokensPayload.safeParse(p).success]);
    }
  });
});
