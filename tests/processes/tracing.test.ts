// Tracing across real processes: a control plane and a node exporting spans over OTLP/HTTP (JSON)
// to a receiver in this test, a remote OpenAI-compatible engine (the vLLM stand-in) behind the
// node. A task submitted with a client traceparent: every span shares the client's trace id, the
// parent links form the chain client → admission → placement, dispatch → engine.call → stream,
// both services report, the response's traceparent names the admission span, and the engine is
// sent engine.call's context. Every log line of the task, on both processes, has its
// correlation_id and trace_id. Without the OTLP variables nothing is exported and the client's
// context passes through unchanged.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnService, type LogLine, type Service } from "../harness/process.ts";
import { openSse, submitTask, type Frame } from "../harness/sse.ts";
import { openWs } from "../harness/ws.ts";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../harness/otlp.ts";
import { startOpenAiStandin, type OpenAiStandin } from "../fixtures/openai-server.ts";

const CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN = "00f067aa0ba902b7";
const clientTraceparent = (trace = CLIENT_TRACE) => `00-${trace}-${CLIENT_SPAN}-01`;
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

interface Stack {
  control: Service;
  node: Service;
  base: string;
  engine: OpenAiStandin;
  dir: string;
}

async function startStack(env: Record<string, string>): Promise<Stack> {
  const engine = startOpenAiStandin({ model: "served-model", tokenDelayMs: 1 });
  const dir = mkdtempSync(join(tmpdir(), "llorch-tracing-"));
  const config = join(dir, "pools.yaml");
  writeFileSync(
    config,
    ["pools:", "  - id: remote", "    engine: openai", "    model: tiny", "    served_model: served-model", `    url: ${engine.url}/v1`, "    slots: 4", "    allow_cpu: true", ""].join("\n"),
  );
  const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"], { LLORCH_LOG_LEVEL: "debug", ...env });
  const stack: Stack = { control, node: undefined as unknown as Service, base: "", engine, dir };
  const listening = await control.waitFor((l) => l.event === "listening", "control listening");
  stack.base = String(listening.url).replace(/\/$/, "");
  stack.node = spawnService(["actors/node/main.ts", "--control", stack.base, "--config", config, "--addr", "127.0.0.1:0", "--node-id", "n1"], {
    LLORCH_LOG_LEVEL: "debug",
    POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "1",
    ...env,
  });
  await control.waitFor((l) => l.msg === "Pool remote on node n1 is ready", "pool ready at the control plane");
  return stack;
}

async function stopStack(stack: Stack | undefined): Promise<void> {
  if (!stack) return;
  await stack.node?.stop("SIGTERM");
  await stack.control.stop("SIGTERM");
  await stack.engine.close();
  rmSync(stack.dir, { recursive: true, force: true });
}

async function streamToEnd(base: string, taskId: string): Promise<Frame[]> {
  const sse = await openSse(`${base}/v2/tasks/${taskId}/events`);
  const frames: Frame[] = [];
  for await (const f of sse.frames) frames.push(f);
  return frames;
}

const ofTask = (taskId: string) => (l: LogLine) => l.job_id === taskId || l.task_id === taskId;

describe("with OTEL_EXPORTER_OTLP_ENDPOINT set", () => {
  let receiver: OtlpReceiver;
  let stack: Stack | undefined;

  beforeAll(async () => {
    receiver = startOtlpReceiver();
    stack = await startStack({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_BSP_SCHEDULE_DELAY: "20" });
  }, 60_000);

  afterAll(async () => {
    await stopStack(stack);
    await receiver.stop();
  });

  test("a task's spans form one trace under the client's span, across both processes and into the engine", async () => {
    const { base, control, node, engine } = stack!;
    const a = await submitTask(base, { model_ref: "tiny", prompt: "trace me", max_tokens: 6 }, { traceparent: clientTraceparent(), tracestate: "vendor=abc", "x-correlation-id": "corr-trace-1" });
    expect(a.status).toBe(202);
    expect(a.headers.get("x-correlation-id")).toBe("corr-trace-1");
    const answered = TRACEPARENT.exec(a.headers.get("traceparent") ?? "");
    expect(answered?.[1]).toBe(CLIENT_TRACE);
    expect(answered?.[2]).not.toBe(CLIENT_SPAN);
    const taskId: string = a.json.task_id;
    const frames = await streamToEnd(base, taskId);
    expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 6 } });

    const names = ["admission", "placement", "dispatch", "engine.call", "stream"];
    const byName = await receiver.until((spans) => {
      const mine = spans.filter((s) => s.traceId === CLIENT_TRACE);
      const found = Object.fromEntries(names.map((n) => [n, mine.find((s) => s.name === n)]));
      return names.every((n) => found[n]) ? (found as Record<string, ReceivedSpan>) : undefined;
    });
    const { admission, placement, dispatch, stream } = byName;
    const call = byName["engine.call"]!;
    expect(admission!.parentSpanId).toBe(CLIENT_SPAN);
    expect(admission!.spanId).toBe(answered![2]!);
    expect(placement!.parentSpanId).toBe(admission!.spanId);
    expect(dispatch!.parentSpanId).toBe(admission!.spanId);
    expect(call.parentSpanId).toBe(dispatch!.spanId);
    expect(stream!.parentSpanId).toBe(call.spanId);
    for (const s of [admission, placement, dispatch]) expect(s!.service).toBe("llama-orch-control");
    for (const s of [call, stream]) expect(s!.service).toBe("llama-orch-node");
    expect(admission!.attributes).toMatchObject({ "http.route": "POST /v2/tasks", "llorch.outcome": "accepted", "llorch.task_id": taskId, "llorch.correlation_id": "corr-trace-1" });
    expect(placement!.attributes).toMatchObject({ "llorch.node_id": "n1", "llorch.pool_id": "remote" });
    expect(dispatch!.attributes).toMatchObject({ "llorch.outcome": "started", "llorch.pool_id": "remote" });
    expect(call.attributes).toMatchObject({ "llorch.task_id": taskId, "llorch.engine": "openai", "llorch.outcome": "completed" });
    expect(stream!.attributes).toMatchObject({ "llorch.tokens_out": 6, "llorch.outcome": "completed" });

    // The engine got engine.call's context (and the client's tracestate).
    const sent = engine.requests.find((r) => r.method === "POST" && r.traceparent?.includes(CLIENT_TRACE));
    expect(sent?.traceparent).toBe(`00-${CLIENT_TRACE}-${call.spanId}-01`);

    // Every log line of the task, on both processes, carries its correlation id and trace id.
    await control.waitFor((l) => ofTask(taskId)(l) && String(l.msg).startsWith("Stream ended"), "the task's last control line");
    const controlLines = control.lines.filter(ofTask(taskId));
    const nodeLines = node.lines.filter(ofTask(taskId));
    expect(controlLines.map((l) => l.msg)).toEqual(expect.arrayContaining([expect.stringMatching(/^Accepted request/), expect.stringMatching(/^Placed task/), "Stream started", expect.stringMatching(/^Stream ended/)]));
    expect(nodeLines.map((l) => l.msg)).toEqual(expect.arrayContaining(["Dispatch received", "Engine request started"]));
    for (const l of [...controlLines, ...nodeLines]) expect(l).toMatchObject({ correlation_id: "corr-trace-1", trace_id: CLIENT_TRACE });
  }, 30_000);

  test("an engine failure marks engine.call and dispatch failed, and its log lines on both processes name the task", async () => {
    const { base, control, node, engine } = stack!;
    const trace = "2af7651916cd43dd8448eb211c80319e";
    engine.faults.status = 503;
    let taskId: string;
    try {
      const a = await submitTask(base, { model_ref: "tiny", prompt: "doomed", max_tokens: 4 }, { traceparent: clientTraceparent(trace), "x-correlation-id": "corr-fail" });
      taskId = a.json.task_id;
      const frames = await streamToEnd(base, taskId);
      expect(frames.at(-1)).toMatchObject({ event: "error", data: { code: "POOL_UNAVAILABLE" } });
    } finally {
      engine.faults.status = undefined;
    }
    const { call, dispatch } = await receiver.until((spans) => {
      const call = spans.find((s) => s.traceId === trace && s.name === "engine.call");
      const dispatch = spans.find((s) => s.traceId === trace && s.name === "dispatch");
      return call && dispatch ? { call, dispatch } : undefined;
    });
    expect(call).toMatchObject({ parentSpanId: dispatch.spanId, status: { code: 2 }, attributes: { "llorch.outcome": "failed", "error.type": "POOL_UNAVAILABLE" } });
    expect(dispatch).toMatchObject({ status: { code: 2 }, attributes: { "llorch.outcome": "failed", "error.type": "POOL_UNAVAILABLE" } });
    const failed = await node.waitFor((l) => ofTask(taskId)(l) && String(l.msg).startsWith("Engine request failed"), "the node's failure line");
    expect(failed).toMatchObject({ level: "warn", correlation_id: "corr-fail", trace_id: trace, error_kind: "POOL_UNAVAILABLE" });
    const taskFailed = await control.waitFor((l) => ofTask(taskId)(l) && String(l.msg).startsWith("Task failed"), "the control plane's failure line");
    expect(taskFailed).toMatchObject({ correlation_id: "corr-fail", trace_id: trace });
  }, 30_000);

  test("a malformed traceparent is ignored: the task is admitted and starts a new trace", async () => {
    const { base } = stack!;
    const a = await submitTask(base, { model_ref: "tiny", prompt: "bad header", max_tokens: 2 }, { traceparent: "00-not-a-trace-01" });
    expect(a.status).toBe(202);
    const answered = TRACEPARENT.exec(a.headers.get("traceparent") ?? "");
    expect(answered).not.toBeNull();
    const taskId: string = a.json.task_id;
    await streamToEnd(base, taskId);
    const admission = await receiver.until((spans) => spans.find((s) => s.name === "admission" && s.attributes["llorch.task_id"] === taskId));
    expect(admission.traceId).toBe(answered![1]!);
    expect(admission.parentSpanId).toBe("");
  }, 30_000);

  test("the OpenAI route and a WebSocket submit take a traceparent too and answer with their admission span", async () => {
    const { base } = stack!;
    const trace = "0af7651916cd43dd8448eb211c80319c";
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: clientTraceparent(trace) },
      body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 3 }),
    });
    expect(res.status).toBe(200);
    await res.json();
    const answered = TRACEPARENT.exec(res.headers.get("traceparent") ?? "");
    expect(answered?.[1]).toBe(trace);
    const admission = await receiver.until((spans) => spans.find((s) => s.name === "admission" && s.traceId === trace));
    expect(admission).toMatchObject({ spanId: answered![2]!, parentSpanId: CLIENT_SPAN, attributes: { "http.route": "POST /v1/chat/completions" } });

    const wsTrace = "1af7651916cd43dd8448eb211c80319d";
    const ws = await openWs(base);
    try {
      ws.send({ type: "submit", task: { model_ref: "tiny", prompt: "over ws", max_tokens: 2 }, traceparent: clientTraceparent(wsTrace) });
      const admitted = await ws.next((f) => f.type === "admitted");
      expect(TRACEPARENT.exec(admitted.traceparent)?.[1]).toBe(wsTrace);
      await ws.untilEnd(admitted.task_id);
      const wsAdmission = await receiver.until((spans) => spans.find((s) => s.name === "admission" && s.traceId === wsTrace));
      expect(wsAdmission).toMatchObject({ parentSpanId: CLIENT_SPAN, attributes: { "http.route": "WS /v2/ws", "llorch.task_id": admitted.task_id } });
    } finally {
      await ws.close();
    }
  }, 30_000);
});

describe("without OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stopStack(stack);
    stack = undefined;
  });

  test("nothing is recorded, and the client's trace context passes through unchanged to the engine and the logs", async () => {
    stack = await startStack({ OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "" });
    const { base, control, node, engine } = stack;
    // No provider was installed: neither process says it exports traces.
    expect([...control.lines, ...node.lines].some((l) => l.event === "tracing")).toBe(false);
    const a = await submitTask(base, { model_ref: "tiny", prompt: "untraced", max_tokens: 3 }, { traceparent: clientTraceparent() });
    expect(a.status).toBe(202);
    // No span was made: the answer and the engine's request carry the client's own context.
    expect(a.headers.get("traceparent")).toBe(clientTraceparent());
    const taskId: string = a.json.task_id;
    await streamToEnd(base, taskId);
    expect(engine.requests.find((r) => r.method === "POST")?.traceparent).toBe(clientTraceparent());
    await control.waitFor((l) => ofTask(taskId)(l) && String(l.msg).startsWith("Stream ended"), "the task's last control line");
    for (const l of [...control.lines.filter(ofTask(taskId)), ...node.lines.filter(ofTask(taskId))]) expect(l).toMatchObject({ trace_id: CLIENT_TRACE });
    // Without a client traceparent there is no trace at all: no header back, none to the engine.
    const b = await submitTask(base, { model_ref: "tiny", prompt: "untraced too", max_tokens: 1 });
    expect(b.headers.get("traceparent")).toBeNull();
    await streamToEnd(base, b.json.task_id);
    expect(engine.requests.filter((r) => r.method === "POST").at(-1)?.traceparent).toBeNull();
  }, 60_000);
});
