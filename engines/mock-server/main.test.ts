// The mock llama-server as a real child process, spoken to over plain HTTP: wire format of
// /health, /props, /completion (SSE and JSON), slots, cancel by disconnect, and each fault flag.

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, spawnEngine, stopGroup, waitHealthy, type EngineProcess } from "../../host/process/index.ts";
import { mockEngineArgv, parseMockEngineFlags } from "./main.ts";

const started: EngineProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const p of started.splice(0)) await stopGroup(p, { graceMs: 200 });
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function launch(flags: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "llorch-mock-engine-"));
  dirs.push(dir);
  const port = freePort();
  const proc = spawnEngine({ argv: mockEngineArgv(["--port", String(port), ...flags]), logPath: join(dir, "engine.log"), pidPath: join(dir, "engine.pid") });
  started.push(proc);
  const url = `http://127.0.0.1:${port}`;
  return { proc, url, dir, log: () => readFileSync(proc.logPath, "utf8") };
}

async function start(flags: string[] = []) {
  const engine = launch(flags);
  await waitHealthy(engine.url, { intervalMs: 20, exited: engine.proc.exited });
  return engine;
}

const complete = (url: string, body: object) =>
  fetch(`${url}/completion`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

/** Reads a whole SSE body into its `data:` payloads, checking the framing as it goes. */
async function sse(res: Response): Promise<any[]> {
  const text = await res.text();
  expect(text.endsWith("\n\n")).toBe(true);
  return text.split("\n\n").filter(Boolean).map((frame) => {
    expect(frame.startsWith("data: ")).toBe(true);
    return JSON.parse(frame.slice("data: ".length));
  });
}

const metric = async (url: string, name: string) => Number(new RegExp(`^llamacpp:${name} (\\d+)$`, "m").exec(await (await fetch(`${url}/metrics`)).text())?.[1]);

describe("flags", () => {
  test("defaults, llama-server aliases and --flag=value", () => {
    expect(parseMockEngineFlags([])).toMatchObject({ host: "127.0.0.1", port: 8080, slots: 1, ctx: 4096, tokenDelayMs: 0 });
    expect(parseMockEngineFlags(["--port=0", "-m", "a.gguf", "-np", "4", "-c", "2048", "-ngl", "99", "--metrics", "--oom"]))
      .toMatchObject({ port: 0, model: "a.gguf", slots: 4, ctx: 2048, oom: true });
  });

  test("bad input is refused with a message", () => {
    expect(() => parseMockEngineFlags(["--nope"])).toThrow("unknown argument: --nope");
    expect(() => parseMockEngineFlags(["--slots", "x"])).toThrow("--slots needs a whole number");
    expect(() => parseMockEngineFlags(["--slots", "0"])).toThrow("at least 1");
    expect(() => parseMockEngineFlags(["--port"])).toThrow("--port needs a value");
  });
});

describe("mock llama-server", () => {
  test("a bad flag or a missing model file exits 1 with the reason in the log", async () => {
    const bad = launch(["--bogus"]);
    expect(await bad.proc.exited).toEqual({ code: 1, signal: null });
    expect(bad.log()).toContain("error: unknown argument: --bogus");
    const missing = launch(["--model", "/nonexistent/m.gguf"]);
    expect(await missing.proc.exited).toEqual({ code: 1, signal: null });
    expect(missing.log()).toContain("error loading model: failed to open /nonexistent/m.gguf");
  }, 15_000);

  test("while loading every route answers llama-server's 503; then /health is ok and /props describes the server", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llorch-model-"));
    dirs.push(dir);
    writeFileSync(join(dir, "tiny.gguf"), "GGUF");
    // It stays loading until the test creates this file: no race with a busy machine's start-up.
    const loadedFile = join(dir, "loaded");
    const engine = launch(["--model", join(dir, "tiny.gguf"), "--load-until", loadedFile, "--slots", "3", "--ctx", "1024", "--build-info", "b42-test"]);
    let loading: Response | undefined;
    while (!loading) loading = await fetch(`${engine.url}/health`).catch(() => undefined);
    expect(loading.status).toBe(503);
    expect(await loading.json()).toEqual({ error: { code: 503, message: "Loading model", type: "unavailable_error" } });
    expect((await fetch(`${engine.url}/props`)).status).toBe(503);
    expect(engine.log()).not.toContain("main: model loaded");
    writeFileSync(loadedFile, "");
    await waitHealthy(engine.url, { intervalMs: 20, exited: engine.proc.exited });
    expect(await (await fetch(`${engine.url}/health`)).json()).toEqual({ status: "ok" });
    expect(await (await fetch(`${engine.url}/props`)).json()).toMatchObject({
      default_generation_settings: { n_ctx: 1024, is_processing: false },
      total_slots: 3,
      model_path: join(dir, "tiny.gguf"),
      build_info: "b42-test",
    });
    expect(engine.log()).toContain("main: model loaded");
  }, 15_000);

  test("POST /completion streams data: lines, then a final chunk with stop_type, counts and timings", async () => {
    const { url } = await start();
    const chunks = await sse(await complete(url, { prompt: "hello there", n_predict: 4, seed: 7, stream: true }));
    expect(chunks).toHaveLength(5);
    const tokens = chunks.slice(0, 4);
    expect(tokens.map((c) => [c.stop, c.tokens_predicted])).toEqual([[false, 1], [false, 2], [false, 3], [false, 4]]);
    expect(tokens.every((c) => typeof c.content === "string" && c.content.length > 0)).toBe(true);
    expect(chunks[4]).toMatchObject({ content: "", stop: true, stop_type: "limit", tokens_predicted: 4, tokens_evaluated: 3, timings: { predicted_n: 4 } });
    expect(typeof chunks[4].timings.predicted_ms).toBe("number");

    const again = await sse(await complete(url, { prompt: "hello there", n_predict: 4, seed: 7, stream: true }));
    expect(again.map((c) => c.content)).toEqual(chunks.map((c) => c.content));
    const reseeded = await sse(await complete(url, { prompt: "hello there", n_predict: 4, seed: 8, stream: true }));
    expect(reseeded.map((c) => c.content).join("")).not.toBe(chunks.map((c) => c.content).join(""));

    const whole = await (await complete(url, { prompt: "hello there", n_predict: 4, seed: 7 })).json();
    expect(whole).toMatchObject({ stop: true, stop_type: "limit", content: tokens.map((c) => c.content).join("") });
  }, 15_000);

  test("stop words end with stop_type word; --eos-after-tokens ends with eos", async () => {
    const { url } = await start(["--eos-after-tokens", "2"]);
    const eos = await sse(await complete(url, { prompt: "p", n_predict: 10, seed: 1, stream: true }));
    expect(eos.at(-1)).toMatchObject({ stop: true, stop_type: "eos", tokens_predicted: 2 });
    const first = eos[0].content.trim();
    const worded = await (await complete(url, { prompt: "p", n_predict: 10, seed: 1, stop: [first] })).json();
    expect(worded).toMatchObject({ stop_type: "word", stopping_word: first, tokens_predicted: 0, content: "" });
  }, 15_000);

  test("bad requests get llama-server's error shape", async () => {
    const { url } = await start();
    const bad = await complete(url, { n_predict: 1 });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { code: 400, message: '"prompt" must be a string', type: "invalid_request_error" } });
    expect((await fetch(`${url}/nope`)).status).toBe(404);
  }, 15_000);

  test("with one slot a second request waits for the first to finish", async () => {
    const { url } = await start(["--slots", "1", "--token-delay-ms", "10"]);
    const order: string[] = [];
    const run = async (name: string) => {
      const chunks = await sse(await complete(url, { prompt: name, n_predict: 5, stream: true }));
      order.push(name);
      return chunks;
    };
    const a = run("a");
    while (!((await (await fetch(`${url}/slots`)).json()) as { is_processing: boolean }[])[0]!.is_processing) {} // until a holds the slot
    const b = run("b");
    await Promise.all([a, b]);
    expect(order).toEqual(["a", "b"]);
    expect(await metric(url, "tokens_predicted_total")).toBe(10);
  }, 15_000);

  test("closing the connection stops generation and frees the slot", async () => {
    const engine = await start(["--slots", "1", "--token-delay-ms", "20"]);
    const res = await complete(engine.url, { prompt: "long", n_predict: 100_000, stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    // The only slot must come free for this one to finish at all.
    const next = await sse(await complete(engine.url, { prompt: "short", n_predict: 1, stream: true }));
    expect(next.at(-1)).toMatchObject({ stop: true, tokens_predicted: 1 });
    expect(engine.log()).toContain("cancel task");
    expect(await metric(engine.url, "tokens_predicted_total")).toBeLessThan(10);
    expect(await metric(engine.url, "requests_processing")).toBe(0);
  }, 15_000);

  test("--crash-after-tokens --crash-cuda: the stream breaks, the process exits 1 with a CUDA error", async () => {
    const engine = await start(["--crash-after-tokens", "3", "--crash-cuda"]);
    const body = await complete(engine.url, { prompt: "x", n_predict: 50, stream: true }).then((r) => r.text()).catch((e: Error) => e);
    if (typeof body === "string") expect(body).not.toContain('"stop":true');
    expect(await engine.proc.exited).toEqual({ code: 1, signal: null });
    expect(engine.log()).toContain("CUDA error: an illegal memory access was encountered");
  }, 15_000);
});

test("POST /v1/embeddings: the documented fake vectors (16 numbers, length 1), words + 1 tokens; bad input is 400", async () => {
  const { mockEmbedding } = await import("./embedding.ts");
  const { url } = await start(["--model", "mock-model"]);
  const post = (body: unknown) => fetch(`${url}/v1/embeddings`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const res = await post({ input: ["hello world", "x"] });
  expect(res.status).toBe(200);
  const body = (await res.json()) as any;
  expect(body.model).toBe("mock-model");
  expect(body.data.map((d: any) => d.embedding)).toEqual([mockEmbedding("hello world"), mockEmbedding("x")]);
  expect(body.data[0].embedding).toHaveLength(16);
  expect(Math.hypot(...body.data[0].embedding)).toBeCloseTo(1, 6);
  expect(body.usage).toEqual({ prompt_tokens: 5, total_tokens: 5 });
  expect((await post({ input: [1, 2] })).status).toBe(400);
});
