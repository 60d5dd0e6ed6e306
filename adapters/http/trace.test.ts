// Trace context on the client routes (trace.ts), through the real control app with a fake port:
// the admission span's context reaches port.submit, the response names it, a client's context is
// passed back where no span is made, and a malformed header changes nothing.

import { afterEach, describe, expect, test } from "bun:test";
import { Registry } from "prom-client";
import { createLogger, RealClock } from "../../runtime/index.ts";
import type { ControlPort, SubmitMeta } from "../../contract/index.ts";
import { startOtlpReceiver, type OtlpReceiver } from "../../tests/harness/otlp.ts";
import { startTracing, type TracingHandle } from "../tracing/index.ts";
import { createControlApp } from "./control-app.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT = `00-${TRACE}-00f067aa0ba902b7-01`;
const log = createLogger({ clock: new RealClock(), sink: () => {}, level: "error" });

function appWith(metas: SubmitMeta[], token?: string) {
  const port = {
    ready: async () => ({ ready: true, nodes_online: 1 }),
    submit: async (request, meta) => {
      metas.push(meta);
      if (request.model_ref === "nope") return { ok: false, error: { code: "MODEL_NOT_AVAILABLE", message: "no such model", retriable: false } };
      return { ok: true, budgets: { tokens_remaining: 1, time_remaining_ms: 1, cost_remaining: 1 }, admission: { task_id: "t1", queue_position: 0, predicted_start_ms: 0, backoff_ms: 0 } };
    },
    subscribe: async () => undefined,
    cancel: async () => "unknown",
    nodes: async () => [],
    capabilities: async () => ({}) as never,
  } as ControlPort;
  return createControlApp({ port, registry: new Registry(), log, version: "0", token });
}

const post = (headers: Record<string, string>, model = "tiny") =>
  new Request("http://x/v2/tasks", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ model_ref: model, prompt: "p", max_tokens: 2 }) });

describe("tracing off (no provider)", () => {
  test("the client's traceparent is passed to the control plane and answered unchanged, on every route", async () => {
    const metas: SubmitMeta[] = [];
    const app = appWith(metas, "s3cret-token-0123456789");
    const res = await app.request(post({ traceparent: CLIENT, tracestate: "a=1", authorization: "Bearer s3cret-token-0123456789" }));
    expect(res.status).toBe(202);
    expect(res.headers.get("traceparent")).toBe(CLIENT);
    expect(metas[0]!.trace).toEqual({ traceparent: CLIENT, tracestate: "a=1" });
    // Refused by auth, unknown routes: the context still comes back.
    const refused = await app.request(post({ traceparent: CLIENT }));
    expect(refused.status).toBe(401);
    expect(refused.headers.get("traceparent")).toBe(CLIENT);
    const missing = await app.request(new Request("http://x/v2/nothing", { headers: { traceparent: CLIENT, authorization: "Bearer s3cret-token-0123456789" } }));
    expect(missing.status).toBe(404);
    expect(missing.headers.get("traceparent")).toBe(CLIENT);
  });

  test("without one, or with a malformed one, there is no trace: nothing passed, nothing answered", async () => {
    const metas: SubmitMeta[] = [];
    const app = appWith(metas);
    const cases: Record<string, string>[] = [{}, { traceparent: "00-abc-01" }, { traceparent: `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01` }];
    for (const headers of cases) {
      const res = await app.request(post(headers));
      expect(res.status).toBe(202);
      expect(res.headers.get("traceparent")).toBeNull();
    }
    expect(metas.map((m) => m.trace)).toEqual([undefined, undefined, undefined]);
  });
});

describe("tracing on", () => {
  let handle: TracingHandle | undefined;
  let receiver: OtlpReceiver | undefined;
  afterEach(async () => {
    await handle?.shutdown();
    await receiver?.stop();
  });

  test("an admission span per submit: its context goes to the control plane and back to the client; a rejection marks it failed", async () => {
    receiver = startOtlpReceiver();
    handle = await startTracing({ serviceName: "llama-orch-control", version: "0", log, env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "600000" } });
    const metas: SubmitMeta[] = [];
    const app = appWith(metas);
    const ok = await app.request(post({ traceparent: CLIENT, "x-correlation-id": "c-1" }));
    const answered = ok.headers.get("traceparent")!;
    expect(answered).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    expect(answered).not.toBe(CLIENT);
    expect(metas[0]!.trace).toEqual({ traceparent: answered });
    const refused = await app.request(post({}, "nope"));
    expect(refused.status).not.toBe(202);
    const fresh = refused.headers.get("traceparent")!;
    expect(fresh).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(fresh.slice(3, 35)).not.toBe(TRACE);
    await handle.shutdown();
    const [accepted, rejected] = receiver.spans;
    expect(accepted).toMatchObject({ name: "admission", kind: 2, traceId: TRACE, parentSpanId: "00f067aa0ba902b7", spanId: answered.slice(36, 52), attributes: { "http.route": "POST /v2/tasks", "llorch.outcome": "accepted", "llorch.task_id": "t1", "llorch.correlation_id": "c-1" } });
    expect(rejected).toMatchObject({ name: "admission", parentSpanId: "", attributes: { "llorch.outcome": "rejected", "error.type": "MODEL_NOT_AVAILABLE" }, status: { code: 2 } });
  });
});
