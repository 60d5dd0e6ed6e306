import { afterEach, describe, expect, test } from "bun:test";
import { trace } from "@opentelemetry/api";
import { createLogger, RealClock } from "../../runtime/index.ts";
import { startOtlpReceiver, type OtlpReceiver } from "../../tests/harness/otlp.ts";
import { startTracing, type TracingHandle } from "./provider.ts";
import { SpanKind, startPhase, tracingActive } from "./spans.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT = { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` };

const lines: Record<string, unknown>[] = [];
const log = createLogger({ clock: new RealClock(), sink: (l) => lines.push(JSON.parse(l)), level: "debug" });

let handle: TracingHandle | undefined;
let receiver: OtlpReceiver | undefined;
afterEach(async () => {
  await handle?.shutdown();
  handle = undefined;
  await receiver?.stop();
  receiver = undefined;
  lines.length = 0;
});

describe("without an OTLP endpoint", () => {
  test("no provider is installed and spans are not recorded; a parent's context passes through unchanged", async () => {
    handle = await startTracing({ serviceName: "llama-orch-control", version: "0.0.0", log, env: {} });
    expect(handle.enabled).toBe(false);
    expect(tracingActive()).toBe(false);
    // The API's global provider is still its no-op one: whatever starts a span gets a non-recording one.
    expect(trace.getTracer("probe").startSpan("probe").isRecording()).toBe(false);
    expect(startPhase("admission", undefined).carrier).toBeUndefined();
    const passed = startPhase("admission", CLIENT);
    expect(passed.carrier).toBe(CLIENT);
    expect(passed.traceId).toBe(TRACE);
    passed.end({ "llorch.outcome": "accepted" }, { code: "X", message: "y" });
    expect(lines.some((l) => l.event === "tracing")).toBe(false);
  });
});

describe("with an OTLP endpoint", () => {
  test("spans go to the receiver over OTLP/HTTP JSON with the service name, parent links, attributes and error status", async () => {
    receiver = startOtlpReceiver();
    handle = await startTracing({
      serviceName: "llama-orch-node",
      version: "1.2.3",
      log,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "10", OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test" },
    });
    expect(handle.enabled).toBe(true);
    expect(tracingActive()).toBe(true);
    expect(lines.find((l) => l.event === "tracing")).toMatchObject({ service_name: "llama-orch-node", protocol: "http/json" });
    const parent = startPhase("engine.call", CLIENT, { kind: SpanKind.CLIENT, attributes: () => ({ "llorch.task_id": "t1" }) });
    expect(parent.traceId).toBe(TRACE);
    expect(parent.carrier!.traceparent).not.toBe(CLIENT.traceparent);
    const child = startPhase("stream", parent.carrier);
    child.end({ "llorch.tokens_out": 5, "llorch.outcome": "completed" });
    parent.end({ "llorch.outcome": "failed" }, { code: "WORKER_RESET", message: "engine died" });
    parent.end({ "llorch.outcome": "twice" }); // a second end does nothing
    const spans = await receiver.until((s) => (s.length >= 2 ? s : undefined));
    const call = spans.find((s) => s.name === "engine.call")!;
    const stream = spans.find((s) => s.name === "stream")!;
    expect(call).toMatchObject({ service: "llama-orch-node", traceId: TRACE, parentSpanId: "00f067aa0ba902b7", kind: 3, attributes: { "llorch.task_id": "t1", "llorch.outcome": "failed", "error.type": "WORKER_RESET" } });
    expect(call.status).toMatchObject({ code: 2, message: "WORKER_RESET: engine died" });
    expect(stream).toMatchObject({ traceId: TRACE, parentSpanId: call.spanId, attributes: { "llorch.tokens_out": 5, "llorch.outcome": "completed" } });
    expect(receiver.strays).toEqual([]);
  });

  test("shutdown flushes buffered spans and uninstalls the provider", async () => {
    receiver = startOtlpReceiver();
    // A batch delay far past the test's length: only the flush at shutdown can deliver.
    handle = await startTracing({ serviceName: "llama-orch-control", version: "0", log, env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "600000" } });
    startPhase("admission", undefined).end();
    expect(receiver.spans).toHaveLength(0);
    await handle.shutdown();
    expect(receiver.spans.map((s) => [s.service, s.name, s.parentSpanId])).toEqual([["llama-orch-control", "admission", ""]]);
    expect(tracingActive()).toBe(false);
    expect(trace.getTracer("probe").startSpan("probe").isRecording()).toBe(false);
  });

  test("http/protobuf (the default) posts protobuf bodies that carry the trace", async () => {
    receiver = startOtlpReceiver();
    handle = await startTracing({ serviceName: "llama-orch-control", version: "0", log, env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "600000" } });
    startPhase("placement", CLIENT).end();
    await handle.shutdown();
    expect(receiver.protobuf).toHaveLength(1);
    const body = Buffer.from(receiver.protobuf[0]!);
    expect(body.includes(Buffer.from(TRACE, "hex"))).toBe(true);
    expect(body.includes(Buffer.from("placement"))).toBe(true);
    expect(body.includes(Buffer.from("llama-orch-control"))).toBe(true);
  });

  test("a sampler that keeps nothing records nothing, yet the context still travels", async () => {
    receiver = startOtlpReceiver();
    handle = await startTracing({ serviceName: "s", version: "0", log, env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_TRACES_SAMPLER: "always_off" } });
    const span = startPhase("admission", CLIENT);
    expect(span.traceId).toBe(TRACE);
    expect(span.carrier!.traceparent).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
    span.end();
    await handle.shutdown();
    expect(receiver.spans).toHaveLength(0);
  });
});
