import { expect, test } from "bun:test";
import { checkedTraceFields, traceIdOf, TraceCarrier } from "./trace.ts";

const TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const base = { task_id: "t1", prompt: "p", max_tokens: 3 };

test("the link's trace fields pass when they fit and are dropped when they do not, never an error", () => {
  const good = { ...base, trace: { traceparent: TP, tracestate: "a=1" }, correlation_id: "corr-1" };
  expect(checkedTraceFields(good)).toBe(good);
  expect(checkedTraceFields(base)).toBe(base);
  expect(checkedTraceFields({ ...base, trace: { traceparent: "00-xyz" }, correlation_id: "corr-1" })).toEqual({ ...base, correlation_id: "corr-1" });
  expect(checkedTraceFields({ ...base, trace: { traceparent: TP }, correlation_id: "bad id\n" })).toEqual({ ...base, trace: { traceparent: TP } });
  expect(checkedTraceFields({ ...base, trace: { traceparent: TP, extra: 1 }, correlation_id: 42 } as never)).toEqual(base);
  expect(checkedTraceFields({ ...base, trace: { traceparent: TP, tracestate: "x".repeat(513) } })).toEqual(base);
  expect(checkedTraceFields({ ...base, trace: "00-" } as never)).toEqual(base);
  expect(checkedTraceFields(null as never)).toBeNull();
});

test("the schema takes version 00 only, lowercase, ids not all zero", () => {
  expect(TraceCarrier.safeParse({ traceparent: TP }).success).toBe(true);
  expect(TraceCarrier.safeParse({ traceparent: TP.toUpperCase() }).success).toBe(false);
  expect(TraceCarrier.safeParse({ traceparent: TP.replace("00-", "01-") }).success).toBe(false);
  expect(TraceCarrier.safeParse({ traceparent: `00-${"0".repeat(32)}-00f067aa0ba902b7-01` }).success).toBe(false);
  expect(traceIdOf({ traceparent: TP })).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
  expect(traceIdOf(undefined)).toBeUndefined();
});
