// Admission feasibility: each refusal a client can get before enqueue, with the contract's code and
// a message naming the field, and the cases that must be admitted and wait in the queue instead.

import { describe, expect, test } from "bun:test";
import { ErrorEnvelope, HTTP_STATUS, TaskRequestV2, type TaskSpec } from "../../../contract/index.ts";
import { checkAdmission, featureRefusal } from "./feasibility.ts";
import type { Candidate, PlacementRequest } from "./placement.ts";

const MODEL = "llama-3-8b";
const GiB = 1024 ** 3;
const req = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({ model_ref: MODEL, ...over });

function pool(node_id: string, pool_id: string, over: Partial<Candidate> = {}): Candidate {
  return {
    node_id,
    pool_id,
    online: true,
    ready: true,
    draining: false,
    slots_total: 1,
    leases: 0,
    vram_free_bytes: 8 * GiB,
    vram_total_bytes: 24 * GiB,
    models_available: [MODEL],
    ctx_max: 8192,
    devices: [0],
    engine: "llamacpp",
    ...over,
  };
}

const fleet = [
  pool("n1", "a", { devices: [0, 1], ctx_max: 32768, vram_total_bytes: 80 * GiB }),
  pool("n1", "b"),
  pool("n2", "a", { models_available: ["other"] }),
];

/** The refusal without `ok`, checked against the wire schema, as the HTTP layer would send it. */
function refusal(candidates: readonly Candidate[], request: PlacementRequest) {
  const result = checkAdmission(candidates, request);
  if (result.ok) throw new Error("expected a refusal");
  const { ok: _, ...error } = result;
  return ErrorEnvelope.parse(error);
}

describe("checkAdmission: admitted", () => {
  test("a plain request for a served model is admitted", () => {
    expect(checkAdmission(fleet, req({ ctx: 4096 }))).toEqual({ ok: true });
  });

  test("momentary load, loading pools and unknown limits do not refuse", () => {
    const busy = [pool("n1", "p", { leases: 5, vram_free_bytes: 0, ready: false, ctx_max: undefined, vram_total_bytes: undefined })];
    expect(checkAdmission(busy, req({ ctx: 100_000, required_vram_bytes: 500 * GiB }))).toEqual({ ok: true });
    expect(checkAdmission(busy, req({ placement: { node_id: "n1" } }))).toEqual({ ok: true });
  });

  test("a busy pinned pool is admitted and waits", () => {
    const full = [pool("n1", "p", { leases: 1 })];
    expect(checkAdmission(full, req({ placement: { mode: "pin", pin_pool_id: "p" } }))).toEqual({ ok: true });
  });

  test("prefer with fallback is admitted even when no preferred pool could serve", () => {
    expect(checkAdmission(fleet, req({ placement: { mode: "prefer", prefer_pools: ["zzz"] } }))).toEqual({ ok: true });
    expect(checkAdmission(fleet, req({ placement: { mode: "prefer", prefer_pools: ["b"], allow_fallback: false } }))).toEqual({ ok: true });
  });
});

describe("checkAdmission: refusals", () => {
  test("mode pin without pin_pool_id, or a pin under another mode, is INVALID_PARAMS", () => {
    expect(refusal(fleet, req({ placement: { mode: "pin" } }))).toMatchObject({
      code: "INVALID_PARAMS",
      message: expect.stringContaining("placement.pin_pool_id"),
    });
    expect(refusal(fleet, req({ placement: { mode: "auto", pin_pool_id: "a" } }))).toMatchObject({
      code: "INVALID_PARAMS",
      message: expect.stringContaining("placement.mode"),
    });
  });

  test("a malformed device mask is INVALID_PARAMS", () => {
    const error = refusal(fleet, req({ placement: { require_device_mask: "0,0" } }));
    expect(error).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining("placement.require_device_mask") });
    expect(HTTP_STATUS[error.code]).toBe(400);
  });

  test("ctx beyond every serving pool's ctx_max is INVALID_PARAMS naming the limit", () => {
    const error = refusal(fleet, req({ ctx: 40_000 }));
    expect(error.code).toBe("INVALID_PARAMS");
    expect(error.message).toContain("ctx 40000");
    expect(error.message).toContain("ctx_max 32768");
    // Pools that do not serve the model do not raise the limit.
    const others = [pool("n1", "p", { ctx_max: 4096 }), pool("n2", "q", { ctx_max: 65536, models_available: ["other"] })];
    expect(refusal(others, req({ ctx: 8192 })).message).toContain("ctx_max 4096");
  });

  test("ctx beyond the pinned pool's ctx_max is INVALID_PARAMS even when another pool fits", () => {
    const error = refusal(fleet, req({ ctx: 16384, placement: { pin_pool_id: "b" } }));
    expect(error).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining("ctx_max 8192 of pinned pool 'b'") });
  });

  test("an unknown or offline node pin is NODE_UNAVAILABLE", () => {
    const candidates = [...fleet, pool("n9", "a", { online: false })];
    const unknown = refusal(candidates, req({ placement: { node_id: "ghost" } }));
    expect(unknown).toMatchObject({ code: "NODE_UNAVAILABLE", retriable: true, retry_after_ms: 1000 });
    expect(unknown.message).toBe("placement.node_id 'ghost' names no known node");
    expect(refusal(candidates, req({ placement: { node_id: "n9" } })).message).toBe("placement.node_id 'n9' is offline");
    expect(HTTP_STATUS[unknown.code]).toBe(503);
  });

  test("a pin_pool_id that names no pool on an online node is INVALID_PARAMS", () => {
    const candidates = [...fleet, pool("n9", "gone", { online: false })];
    expect(refusal(candidates, req({ placement: { mode: "pin", pin_pool_id: "nope" } }))).toMatchObject({
      code: "INVALID_PARAMS",
      message: "placement.pin_pool_id 'nope' names no pool on any online node",
    });
    expect(refusal(candidates, req({ placement: { pin_pool_id: "gone" } })).code).toBe("INVALID_PARAMS");
    // Known pool, but not on the pinned node.
    expect(refusal(candidates, req({ placement: { pin_pool_id: "b", node_id: "n2" } })).message).toBe(
      "placement.pin_pool_id 'b' names no pool on node 'n2'",
    );
  });

  test("a pinned pool that is not ready or draining is POOL_UNREADY, with no fallback", () => {
    const loading = [pool("n1", "p", { ready: false, models_available: [] }), pool("n2", "q")];
    expect(refusal(loading, req({ placement: { mode: "pin", pin_pool_id: "p" } }))).toEqual({
      code: "POOL_UNREADY",
      message: "placement.pin_pool_id 'p' is not ready",
      retriable: true,
      retry_after_ms: 1000,
      pool_id: "p",
      engine: "llamacpp",
    });
    const draining = [pool("n1", "p", { draining: true }), pool("n2", "q")];
    expect(refusal(draining, req({ placement: { pin_pool_id: "p" } }))).toMatchObject({
      code: "POOL_UNREADY",
      message: "placement.pin_pool_id 'p' is draining",
    });
  });

  test("a model on no online node is MODEL_NOT_AVAILABLE", () => {
    const candidates = [pool("n1", "p", { models_available: ["other"] }), pool("n2", "p", { online: false })];
    expect(refusal(candidates, req())).toEqual({
      code: "MODEL_NOT_AVAILABLE",
      message: `no online node serves model_ref '${MODEL}'`,
      retriable: true,
      retry_after_ms: 1000,
    });
    expect(refusal([], req()).code).toBe("MODEL_NOT_AVAILABLE");
  });

  test("a pinned pool or node without the model is MODEL_NOT_AVAILABLE naming the pin", () => {
    expect(refusal(fleet, req({ placement: { node_id: "n2" } })).message).toBe(`node 'n2' does not serve model_ref '${MODEL}'`);
    expect(refusal(fleet, req({ placement: { pin_pool_id: "a", node_id: "n2" } })).message).toBe(
      `pinned pool 'a' does not serve model_ref '${MODEL}'`,
    );
  });

  test("a VRAM requirement above every pool's total is POOL_UNAVAILABLE", () => {
    const error = refusal(fleet, req({ required_vram_bytes: 100 * GiB }));
    expect(error).toMatchObject({ code: "POOL_UNAVAILABLE", message: expect.stringContaining("required VRAM") });
    expect(error.retriable).toBeUndefined();
    expect(checkAdmission(fleet, req({ required_vram_bytes: 80 * GiB }))).toEqual({ ok: true });
  });

  test("a device mask matching no serving pool is POOL_UNAVAILABLE", () => {
    expect(checkAdmission(fleet, req({ placement: { require_device_mask: "1,0" } }))).toEqual({ ok: true });
    expect(refusal(fleet, req({ placement: { require_device_mask: "2" } }))).toMatchObject({
      code: "POOL_UNAVAILABLE",
      message: expect.stringContaining("placement.require_device_mask '2'"),
    });
    // The only pool with the mask cannot hold the VRAM: the combination leaves nothing.
    const combined = req({ required_vram_bytes: 40 * GiB, placement: { require_device_mask: "0" } });
    expect(refusal(fleet, combined).code).toBe("POOL_UNAVAILABLE");
  });

  test("avoid_pools excluding every serving pool is POOL_UNAVAILABLE", () => {
    expect(refusal(fleet, req({ placement: { avoid_pools: ["a", "b"] } }))).toMatchObject({
      code: "POOL_UNAVAILABLE",
      message: expect.stringContaining("placement.avoid_pools"),
    });
    // Avoiding the pinned pool leaves nothing either.
    expect(refusal(fleet, req({ placement: { pin_pool_id: "b", avoid_pools: ["b"] } })).code).toBe("POOL_UNAVAILABLE");
  });

  test("prefer without fallback naming no pool that could serve is POOL_UNAVAILABLE", () => {
    const error = refusal(fleet, req({ placement: { mode: "prefer", prefer_pools: ["zzz"], allow_fallback: false } }));
    expect(error).toMatchObject({ code: "POOL_UNAVAILABLE", message: expect.stringContaining("placement.allow_fallback") });
    // Preferred pools that are avoided or mismatch the mask do not count.
    const avoided = req({ placement: { prefer_pools: ["b"], avoid_pools: ["b"], allow_fallback: false } });
    expect(refusal(fleet, avoided).code).toBe("POOL_UNAVAILABLE");
  });

  test("checks run in the admission order: ctx before pins, pins before model presence", () => {
    expect(refusal(fleet, req({ ctx: 99_999, placement: { node_id: "ghost" } })).code).toBe("INVALID_PARAMS");
    const noModel = [pool("n1", "p", { models_available: [] })];
    expect(refusal(noModel, req({ placement: { node_id: "ghost" } })).code).toBe("NODE_UNAVAILABLE");
    expect(refusal(noModel, req({ placement: { pin_pool_id: "nope" } })).code).toBe("INVALID_PARAMS");
  });

  test("messages never carry the prompt", () => {
    const withPrompt = { ...req({ ctx: 99_999 }), prompt: "secret prompt text" } as PlacementRequest;
    expect(refusal(fleet, withPrompt).message).not.toContain("secret");
  });
});

describe("features the pools' engines honour", () => {
  const spec = (over: Partial<TaskSpec>): TaskSpec => TaskRequestV2.parse({ model_ref: MODEL, max_tokens: 8, messages: [{ role: "user", content: "hi" }], ...over }) as TaskSpec;
  const tools = [{ type: "function" as const, function: { name: "f" } }];

  test("a feature no pool serving the model has is INVALID_PARAMS naming the field; one pool having it is enough", () => {
    const tgi = [pool("n1", "t", { engine: "tgi" }), pool("n2", "m", { engine: "mock" })];
    expect(featureRefusal(tgi, spec({ logit_bias: { "1": 5 } }))).toEqual({ code: "INVALID_PARAMS", message: "logit_bias: not supported by engine mock, tgi (logit_bias)" });
    expect(featureRefusal(tgi, spec({ presence_penalty: 1 }))).toBeUndefined(); // tgi has penalties
    expect(featureRefusal([pool("n2", "m", { engine: "mock-server" })], spec({ tools, tool_choice: "required", frequency_penalty: 1 }))?.message).toStartWith("frequency_penalty: ");
    expect(featureRefusal([pool("n2", "m", { engine: "mock-server" })], spec({ tools, tool_choice: "required" }))).toBeUndefined();
    // Every feature on one pool: tools on tgi, logit_bias on builtin, both on neither.
    expect(featureRefusal([pool("n1", "t", { engine: "tgi" }), pool("n2", "m", { engine: "mock" })], spec({ tools, tool_choice: "auto", logit_bias: { "1": 5 } }))?.message).toStartWith("logit_bias: ");
    expect(featureRefusal([...tgi, pool("n3", "b", { engine: "builtin" })], spec({ logit_bias: { "1": 5 } }))).toBeUndefined();
  });

  test("pools of another model, offline pools and unknown engine kinds do not refuse", () => {
    const s = spec({ presence_penalty: 0.5 });
    expect(featureRefusal([pool("n1", "x", { engine: "mock-server", models_available: ["other"] })], s)).toBeUndefined();
    expect(featureRefusal([pool("n1", "x", { engine: "triton" })], s)).toBeUndefined();
    expect(featureRefusal([pool("n1", "x", { engine: "mock-server", online: false })], s)).toBeUndefined();
    expect(featureRefusal([pool("n1", "x", { engine: "mock-server" })], s)?.message).toStartWith("presence_penalty: ");
  });
});
