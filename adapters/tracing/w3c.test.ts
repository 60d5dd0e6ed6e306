import { describe, expect, test } from "bun:test";
import { TraceCarrier } from "../../contract/trace.ts";
import { carrierOf, readCarrier, spanContextOf, traceHeaders } from "./w3c.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";
const TP = `00-${TRACE}-${SPAN}-01`;

describe("readCarrier", () => {
  test("takes a valid traceparent, and its tracestate", () => {
    expect(readCarrier(TP)).toEqual({ traceparent: TP });
    expect(readCarrier(TP, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")).toEqual({ traceparent: TP, tracestate: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE" });
    expect(readCarrier(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceparent: `00-${TRACE}-${SPAN}-00` });
  });

  test("ignores malformed ones (a new trace is started), never throws", () => {
    for (const bad of [
      "",
      "garbage",
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${"0".repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${"0".repeat(16)}-01`,
      `ff-${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-01-extra`,
      `00-${TRACE.slice(1)}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-1`,
      `00-${TRACE}-${SPAN}-01` + "x".repeat(300),
    ]) {
      expect(readCarrier(bad, "a=b")).toBeUndefined();
    }
    expect(readCarrier(undefined)).toBeUndefined();
    expect(readCarrier(null)).toBeUndefined();
  });

  test("a later version's extra fields are dropped; what comes out is version 00", () => {
    expect(readCarrier(`cc-${TRACE}-${SPAN}-01-what-the-future-holds`)).toEqual({ traceparent: TP });
  });

  test("tracestate keeps its valid members only, within 32 members and 512 characters", () => {
    expect(readCarrier(TP, "Bad Key=1,good=2,also=bad,value")).toEqual({ traceparent: TP, tracestate: "good=2,also=bad" });
    expect(readCarrier(TP, "===,,,")).toEqual({ traceparent: TP });
    const many = Array.from({ length: 40 }, (_, i) => `k${i}=v`).join(",");
    expect(readCarrier(TP, many)!.tracestate!.split(",")).toHaveLength(32);
    const long = Array.from({ length: 10 }, (_, i) => `k${i}=${"v".repeat(100)}`).join(",");
    expect(readCarrier(TP, long)!.tracestate!.length).toBeLessThanOrEqual(512);
    expect(readCarrier(TP, "x=1".padEnd(20_000, "1"))).toEqual({ traceparent: TP });
  });

  test("what comes out fits the link's schema", () => {
    const carrier = readCarrier(TP, "a=1,b=2");
    expect(TraceCarrier.safeParse(carrier).success).toBe(true);
  });
});

describe("carriers and span contexts", () => {
  test("round trip", () => {
    const carrier = { traceparent: TP, tracestate: "a=1,b=2" };
    const sc = spanContextOf(carrier);
    expect(sc).toMatchObject({ traceId: TRACE, spanId: SPAN, traceFlags: 1, isRemote: true });
    expect(carrierOf(sc)).toEqual(carrier);
    expect(carrierOf({ traceId: "0".repeat(32), spanId: "0".repeat(16), traceFlags: 0 })).toBeUndefined();
  });

  test("headers for an engine", () => {
    expect(traceHeaders(undefined)).toEqual({});
    expect(traceHeaders({ traceparent: TP })).toEqual({ traceparent: TP });
    expect(traceHeaders({ traceparent: TP, tracestate: "a=1" })).toEqual({ traceparent: TP, tracestate: "a=1" });
  });
});
