// The built-in engine in this process, over HTTP, on the tiny model (real llama.cpp inference,
// CPU, 2 slots): llama-server's /health, /props, /slots, /metrics and /completion wire format,
// determinism, stop strings, EOS and ignore-EOS, the context limit, slots, cancel, errors.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { ensureTinyModel, TINY_EOS_TRIGGER } from "../tiny-model/tiny-gguf.ts";
import { parseBuiltinEngineFlags } from "./main.ts";
import { loadModel } from "./load.ts";
import { startBuiltinEngine, type BuiltinEngineHandle } from "./server.ts";
import { post, streamCompletion } from "../../tests/fixtures/builtin-client.ts";

let engine: BuiltinEngineHandle;
const logs: string[] = [];
let earlyHealth: { status: number; body: unknown };
let earlyCompletion: number;

beforeAll(async () => {
  const model = ensureTinyModel().path;
  // The load waits for the gate, so the loading state is observed for sure.
  let openGate = () => {};
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  engine = startBuiltinEngine(parseBuiltinEngineFlags(["--model", model, "--port", "0", "--cpu", "--parallel", "2", "--ctx", "2048", "--alias", "tiny"]), {
    log: (line) => logs.push(line),
    load: async (flags, log) => (await gate, loadModel(flags, log)),
  });
  const res = await fetch(`${engine.url}/health`);
  earlyHealth = { status: res.status, body: await res.json() };
  earlyCompletion = (await post(engine.url, "/completion", { prompt: "too early" })).status;
  openGate();
  await engine.ready;
});

afterAll(async () => {
  await engine?.stop();
});

const metric = async (name: string) => Number(new RegExp(`^llamacpp:${name} ([\\d.]+)$`, "m").exec(await (await fetch(`${engine.url}/metrics`)).text())?.[1]);

test("health: 503 'Loading model' while loading, then 200; props describe slots, context and build", async () => {
  expect(earlyHealth).toEqual({ status: 503, body: { error: { code: 503, message: "Loading model", type: "unavailable_error" } } });
  expect(earlyCompletion).toBe(503);
  const health = await fetch(`${engine.url}/health`);
  expect([health.status, await health.json()]).toEqual([200, { status: "ok" }]);
  const props = (await (await fetch(`${engine.url}/props`)).json()) as Record<string, any>;
  expect(props.total_slots).toBe(2);
  expect(props.default_generation_settings.n_ctx).toBe(2048);
  expect(props.build_info).toMatch(/node-llama-cpp-3\.\d+/);
  expect(props.builtin).toEqual({ device: "cpu", gpu_layers: 0, slot_layout: "context-per-slot" });
  expect(logs.some((l) => /^main: server is listening on http:\/\/127\.0\.0\.1:\d+ - starting the main loop$/.test(l))).toBe(true);
});

test("a streamed completion: content pieces, then a final chunk with stop_type, counts and timings", async () => {
  const { pieces, final } = await streamCompletion(engine.url, { prompt: "hello there", n_predict: 12 });
  expect(pieces.length).toBeGreaterThan(0);
  expect(pieces.every((p) => p.stop === false && typeof p.content === "string" && p.content !== "")).toBe(true);
  expect(pieces.map((p) => p.tokens_predicted)).toEqual([...pieces.map((p) => p.tokens_predicted)].sort((a, b) => a - b));
  expect(final).toMatchObject({ content: "", stop: true, stop_type: "limit", tokens_predicted: 12, tokens_evaluated: 12, model: "tiny" });
  expect(final.timings).toMatchObject({ predicted_n: 12, prompt_n: 12 });
  // Not streamed: one object whose content is the same text (greedy by default).
  const whole = await post(engine.url, "/completion", { prompt: "hello there", n_predict: 12 });
  expect(whole.status).toBe(200);
  expect(whole.body).toMatchObject({ content: pieces.map((p) => p.content).join(""), stop: true, stop_type: "limit", tokens_predicted: 12 });
});

test("determinism: same prompt, parameters and seed give byte-identical streams, also beside another request", async () => {
  const req = { prompt: "the same prompt", n_predict: 48, temperature: 0.9, top_p: 0.95, top_k: 40, seed: 1234 };
  const text = async () => (await streamCompletion(engine.url, req)).pieces.map((p) => p.content);
  const alone = await text();
  const again = await text();
  // Both slots busy: the other one runs a different, longer request at the same time.
  const [beside] = await Promise.all([text(), streamCompletion(engine.url, { prompt: "something else entirely", n_predict: 200, temperature: 1, seed: 9 })]);
  expect(alone.join("").length).toBeGreaterThan(0);
  expect(again).toEqual(alone);
  expect(beside).toEqual(alone);
  const otherSeed = (await streamCompletion(engine.url, { ...req, seed: 4321 })).pieces.map((p) => p.content);
  expect(otherSeed.join("")).not.toBe(alone.join(""));
});

test("a stop string ends the text before it; the final chunk names it", async () => {
  const full = ((await post(engine.url, "/completion", { prompt: "stop here", n_predict: 40 })).body as { content: string }).content;
  const word = full.slice(20, 23);
  const { pieces, final } = await streamCompletion(engine.url, { prompt: "stop here", n_predict: 40, stop: [word] });
  expect(pieces.map((p) => p.content).join("")).toBe(full.slice(0, full.indexOf(word)));
  expect(final).toMatchObject({ stop_type: "word", stopping_word: word });
});

test("end of generation stops with stop_type eos; ignore_eos generates to n_predict", async () => {
  const eos = await streamCompletion(engine.url, { prompt: `over${TINY_EOS_TRIGGER}`, n_predict: 20 });
  expect(eos.pieces).toEqual([]);
  expect(eos.final).toMatchObject({ stop_type: "eos", tokens_predicted: 1 });
  const ignored = await streamCompletion(engine.url, { prompt: `over${TINY_EOS_TRIGGER}`, n_predict: 20, ignore_eos: true });
  expect(ignored.final).toMatchObject({ stop_type: "limit", tokens_predicted: 20 });
  expect(ignored.pieces.length).toBeGreaterThan(0);
});

test("generation stops at the slot's context; a prompt that does not fit is refused", async () => {
  const prompt = "a".repeat(2000); // one token per byte, plus BOS
  const { final } = await streamCompletion(engine.url, { prompt, n_predict: -1 });
  expect(final).toMatchObject({ stop_type: "limit", tokens_evaluated: 2001, tokens_predicted: 2048 - 2001 });
  const tooLong = await post(engine.url, "/completion", { prompt: "a".repeat(2047) });
  expect(tooLong.status).toBe(400);
  expect(tooLong.body).toMatchObject({ error: { code: 400, type: "exceed_context_size_error" } });
});

test("bad requests get llama-server's error body", async () => {
  const cases: [string, string | object, number, string][] = [
    ["/completion", "{not json", 400, "not valid JSON"],
    ["/completion", { n_predict: 3 }, 400, '"prompt" is required'],
    ["/completion", { prompt: "x", temperature: "hot" }, 400, '"temperature" must be a number'],
    ["/completion", { prompt: "x", stop: [1] }, 400, '"stop" must be a string or an array of strings'],
    ["/completion", { prompt: [1, 99999] }, 400, "invalid token id 99999"],
    ["/nope", {}, 404, "File Not Found"],
  ];
  for (const [path, body, status, message] of cases) {
    const res = await post(engine.url, path, body);
    expect(res.status).toBe(status);
    expect((res.body as { error: { message: string; code: number } }).error).toMatchObject({ code: status });
    expect((res.body as { error: { message: string } }).error.message).toContain(message);
  }
});

test("with both slots busy a request waits (deferred) and runs once a slot is free", async () => {
  const long = { prompt: "busy", n_predict: -1, ignore_eos: true };
  const a = new AbortController();
  const b = new AbortController();
  const streams = [a, b].map((c) => fetch(`${engine.url}/completion`, { method: "POST", body: JSON.stringify({ ...long, stream: true }), signal: c.signal }));
  const readers = (await Promise.all(streams)).map((r) => r.body!.getReader());
  await Promise.all(readers.map((r) => r.read())); // both generating
  const third = post(engine.url, "/completion", { prompt: "waiting", n_predict: 4 });
  let deferred = 0;
  while (deferred === 0) deferred = await metric("requests_deferred");
  expect([deferred, await metric("requests_processing")]).toEqual([1, 2]);
  const slots = (await (await fetch(`${engine.url}/slots`)).json()) as { is_processing: boolean }[];
  expect(slots.map((s) => s.is_processing)).toEqual([true, true]);
  a.abort(); // the client goes away: its slot is freed for the waiting request
  expect((await third).body).toMatchObject({ stop_type: "limit", tokens_predicted: 4 });
  b.abort();
  while ((await metric("requests_processing")) > 0);
  expect(await metric("requests_deferred")).toBe(0);
});

test("closing the stream stops generation: the slot is freed long before the context is full", async () => {
  const before = await metric("tokens_predicted_total");
  const c = new AbortController();
  const res = await fetch(`${engine.url}/completion`, { method: "POST", body: JSON.stringify({ prompt: "cancel me", n_predict: -1, ignore_eos: true, stream: true }), signal: c.signal });
  const reader = res.body!.getReader();
  await reader.read();
  c.abort();
  while ((await metric("requests_processing")) > 0);
  const generated = (await metric("tokens_predicted_total")) - before;
  expect(generated).toBeLessThan(2048 - 10);
  expect(await metric("tokens_predicted_total")).toBe(before + generated); // nothing more after
  expect(logs.some((l) => l.startsWith("srv  cancel_tasks: cancel task"))).toBe(true);
  expect(logs.filter((l) => l.startsWith("slot      release")).some((l) => l.includes("canceled = 1"))).toBe(true);
  expect(logs.join("\n")).not.toContain("cancel me"); // no prompt text in the log
});

test("the shared-context layout (GPU default) runs its slots as parallel sequences of one context", async () => {
  const shared = startBuiltinEngine(parseBuiltinEngineFlags(["--model", ensureTinyModel().path, "--port", "0", "--cpu", "--parallel", "2", "--ctx", "256", "--slot-layout", "shared-context"]), { log: () => {} });
  try {
    await shared.ready;
    const props = (await (await fetch(`${shared.url}/props`)).json()) as Record<string, any>;
    expect([props.total_slots, props.default_generation_settings.n_ctx, props.builtin.slot_layout]).toEqual([2, 256, "shared-context"]);
    const req = { prompt: "in one batch", n_predict: 32 };
    const alone = (await streamCompletion(shared.url, req)).pieces.map((p) => p.content).join("");
    const both = await Promise.all([streamCompletion(shared.url, req), streamCompletion(shared.url, req)]);
    expect(new Set(both.map((b) => b.final.id_slot))).toEqual(new Set([0, 1]));
    for (const b of both) expect(b.pieces.map((p) => p.content).join("")).toBe(alone);
  } finally {
    await shared.stop();
  }
});
