// The error constructors: each code with its retry hint, the process-wide default from config, and
// the statuses the codes map to.

import { afterEach, expect, test } from "bun:test";
import {
  apiError,
  decodeTimeout,
  DEFAULT_RETRY_AFTER_MS,
  ErrorEnvelope,
  HTTP_STATUS,
  internalError,
  invalidParams,
  modelNotAvailable,
  nodeUnavailable,
  notFound,
  poolUnavailable,
  poolUnready,
  retriableError,
  retryAfterDefaultMs,
  setRetryAfterDefault,
  workerReset,
} from "./errors.ts";

afterEach(() => {
  setRetryAfterDefault(DEFAULT_RETRY_AFTER_MS);
});

test("retriable constructors carry their code, retriable:true and the default retry hint; fields join the envelope", () => {
  const cases = [
    [poolUnavailable("a", { pool_id: "p" }), "POOL_UNAVAILABLE"],
    [poolUnready("a", { pool_id: "p" }), "POOL_UNREADY"],
    [workerReset("a", { pool_id: "p" }), "WORKER_RESET"],
    [decodeTimeout("a", { pool_id: "p" }), "DECODE_TIMEOUT"],
    [nodeUnavailable("a", { pool_id: "p" }), "NODE_UNAVAILABLE"],
    [modelNotAvailable("a", { pool_id: "p" }), "MODEL_NOT_AVAILABLE"],
  ] as const;
  for (const [error, code] of cases) {
    expect(error).toEqual({ code, message: "a", retriable: true, retry_after_ms: 1000, pool_id: "p" });
    expect(ErrorEnvelope.parse(error)).toEqual(error);
  }
});

test("final errors carry no retry hint unless given one", () => {
  expect(invalidParams("bad")).toEqual({ code: "INVALID_PARAMS", message: "bad" });
  expect(notFound("gone")).toEqual({ code: "NOT_FOUND", message: "gone" });
  expect(internalError("oops")).toEqual({ code: "INTERNAL", message: "oops" });
  expect(apiError("DEADLINE_UNMET", "late", { engine: "mock" })).toEqual({ code: "DEADLINE_UNMET", message: "late", engine: "mock" });
});

test("the default retry hint is one setting per process; an explicit hint or flag wins", () => {
  expect(setRetryAfterDefault(2500)).toBe(2500);
  expect(retryAfterDefaultMs()).toBe(2500);
  expect(poolUnavailable("x").retry_after_ms).toBe(2500);
  expect(retriableError("ADMISSION_REJECT", "x", { retry_after_ms: 40, policy_label: "rate.rps" })).toMatchObject({ retry_after_ms: 40, policy_label: "rate.rps" });
  expect(retriableError("INTERNAL", "x", { retriable: false }).retriable).toBe(false);
});

test("a nonsense default is ignored, keeping the one in force", () => {
  setRetryAfterDefault(700);
  for (const bad of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(setRetryAfterDefault(bad)).toBe(700);
  expect(workerReset("x").retry_after_ms).toBe(700);
});

test("every code has an HTTP status: 4xx for the caller's fault or a refusal, 5xx for ours or the fleet's", () => {
  for (const code of ErrorEnvelope.shape.code.options) expect([400, 401, 404, 429, 500, 503]).toContain(HTTP_STATUS[code]);
  expect(HTTP_STATUS.ADMISSION_REJECT).toBe(429);
  expect(HTTP_STATUS.POOL_UNAVAILABLE).toBe(503);
});
