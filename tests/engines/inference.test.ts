// Real tokens through the whole path: client → control plane → node → the built-in llama.cpp
// engine (a child process running node-llama-cpp on the tiny model) → back, over SSE, the
// WebSocket and the OpenAI API with the official client. Determinism, cancel that stops the
// engine's generation, and an engine that dies mid-stream.

import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { DEFAULT_TINY_MODEL_PATH, ensureTinyModel } from "../../engines/tiny-model/tiny-gguf.ts";
import type { PoolConfig } from "../../actors/node/config.ts";
import { startCluster, type Cluster } from "../harness/cluster.ts";
import { collect, openSse, submitTask, type Frame } from "../harness/sse.ts";
import { openWs, type WsClient } from "../harness/ws.ts";

let cluster: Cluster | undefined;
const sockets: WsClient[] = [];

beforeAll(async () => {
  ensureTinyModel(DEFAULT_TINY_MODEL_PATH);
  const pool: PoolConfig = {
    id: "p0",
    engine: "builtin",
    model: "tiny",
    model_file: DEFAULT_TINY_MODEL_PATH,
    devices: [],
    slots: 2,
    threads: 1,
    allow_cpu: true,
  };
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [pool] }], node: { healthIntervalMs: 100 } });
  await cluster.ready();
});
afterEach(async () => {
  for (const s of sockets.splice(0)) await s.close();
});
afterAll(async () => {
  await cluster?.close();
});

const c = () => cluster!;
const text = (frames: Frame[]) => frames.filter((f) => f.event === "token").map((f) => f.data.t).join("");
const engineLog = () => readFileSync(join(c().runtimeDirs.get("n1")!, "engine-p0.log"), "utf8");

test("SSE: real tokens from llama.cpp, byte-identical for the same prompt, parameters and seed", async () => {
  const run = async () => {
    const t = await submitTask(c().url, { model_ref: "tiny", prompt: "The orchestrator", max_tokens: 48, seed: 42, temperature: 0.8, top_k: 40 });
    expect(t.status).toBe(202);
    return (await collect(`${c().url}${t.json.streams.sse}`)).frames;
  };
  const a = await run();
  const b = await run();
  expect(a[0]).toMatchObject({ event: "started", data: { engine: "llamacpp", pool_id: "p0", node_id: "n1", engine_version: expect.stringContaining("node-llama-cpp") } });
  expect(a.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 48, stop_reason: "length" } });
  // The engine's own prompt count (byte-level vocabulary: one token per byte of "The orchestrator").
  expect(a.at(-1)!.data.tokens_in).toBeGreaterThanOrEqual(16);
  expect(text(a).length).toBeGreaterThan(0);
  expect(text(b)).toBe(text(a));
  const other = await submitTask(c().url, { model_ref: "tiny", prompt: "The orchestrator", max_tokens: 48, seed: 43, temperature: 0.8, top_k: 40 });
  expect(text((await collect(`${c().url}${other.json.streams.sse}`)).frames)).not.toBe(text(a));
}, 60_000);

test("WebSocket: a task submitted on the socket streams real tokens", async () => {
  const ws = await openWs(c().url);
  sockets.push(ws);
  ws.send({ type: "submit", task: { task_id: "ws-real", model_ref: "tiny", prompt: "socket", max_tokens: 12, seed: 1 } });
  const events = await ws.untilEnd("ws-real");
  const kinds = events.filter((f) => f.type !== "metrics" && f.type !== "admitted").map((f) => f.type);
  expect(kinds).toEqual(["started", ...Array(12).fill("token"), "end"]);
}, 60_000);

test("OpenAI client: chat and completions, streamed and not, with usage and finish reasons", async () => {
  const client = new OpenAI({ baseURL: `${c().url}/v1`, apiKey: "unused-locally", maxRetries: 0 });
  const models = await client.models.list();
  expect(models.data.map((m) => m.id)).toContain("tiny");

  const full = await client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 16, seed: 7 });
  expect(full.choices[0]!.finish_reason).toBe("length");
  expect(full.usage).toMatchObject({ completion_tokens: 16 });
  // The engine's count of the ChatML-formatted prompt, not a characters/4 estimate (~14 here).
  expect(full.usage!.prompt_tokens).toBeGreaterThan(30);

  const stream = await client.chat.completions.create({
    model: "tiny",
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 16,
    seed: 7,
    stream: true,
    stream_options: { include_usage: true },
  });
  let streamed = "";
  let usage: OpenAI.CompletionUsage | undefined | null;
  for await (const chunk of stream) {
    streamed += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  expect(streamed).toBe(full.choices[0]!.message.content!);
  expect(usage).toMatchObject({ completion_tokens: 16 });

  const completion = await client.completions.create({ model: "tiny", prompt: "Once", max_tokens: 8, seed: 3 });
  expect(completion.choices[0]!.finish_reason).toBe("length");
  expect(completion.usage?.completion_tokens).toBe(8);
}, 60_000);

test("cancel stops the engine's generation: an aborted OpenAI stream and a /v2 cancel", async () => {
  const client = new OpenAI({ baseURL: `${c().url}/v1`, apiKey: "unused-locally", maxRetries: 0 });
  const abort = new AbortController();
  const stream = await client.completions.create(
    { model: "tiny", prompt: "long", max_tokens: 6000, stream: true, ignore_eos: true } as OpenAI.CompletionCreateParamsStreaming,
    { signal: abort.signal },
  );
  let got = 0;
  // The client ends the iteration (or throws an abort error) once the request is aborted.
  await (async () => {
    for await (const _ of stream) if (++got === 20) abort.abort();
  })().catch((e) => expect(String(e)).toMatch(/abort/i));
  expect(got).toBeGreaterThanOrEqual(20);
  expect(got).toBeLessThan(6000);

  const t = await submitTask(c().url, { model_ref: "tiny", prompt: "cancel me", max_tokens: 6000, ignore_eos: true });
  const frames: Frame[] = [];
  for await (const f of (await openSse(`${c().url}${t.json.streams.sse}`)).frames) {
    frames.push(f);
    if (f.event === "token" && f.data.i === 20) await fetch(`${c().url}/v2/tasks/${t.json.task_id}/cancel`, { method: "POST" });
  }
  expect(frames.at(-1)).toMatchObject({ event: "end", data: { canceled: true } });
  // Both slots are free again (a task on each completes), and the engine says it stopped early.
  const [x, y] = await Promise.all(
    ["a", "b"].map(async (p) => (await collect(`${c().url}${(await submitTask(c().url, { model_ref: "tiny", prompt: p, max_tokens: 4 })).json.streams.sse}`)).frames.at(-1)),
  );
  expect([x?.event, y?.event]).toEqual(["end", "end"]);
  const canceled = engineLog()
    .split("\n")
    .filter((l) => l.includes("canceled = 1"))
    .map((l) => Number(/n_decoded = (\d+)/.exec(l)?.[1]));
  expect(canceled.length).toBeGreaterThanOrEqual(2);
  for (const n of canceled) expect(n).toBeLessThan(6000);
}, 60_000);

test("an engine that dies mid-stream gives the client WORKER_RESET; the pool comes back", async () => {
  const t = await submitTask(c().url, { model_ref: "tiny", prompt: "doomed", max_tokens: 6000, ignore_eos: true });
  const frames: Frame[] = [];
  for await (const f of (await openSse(`${c().url}${t.json.streams.sse}`)).frames) {
    frames.push(f);
    if (f.event === "token" && f.data.i === 10) {
      const pid = Number(readFileSync(join(c().runtimeDirs.get("n1")!, "p0.pid"), "utf8").split("\n")[0]);
      process.kill(pid, "SIGKILL");
    }
  }
  expect(frames.at(-1)).toMatchObject({ event: "error", data: { code: "WORKER_RESET", retriable: true } });
  await c().ready();
  const again = await submitTask(c().url, { model_ref: "tiny", prompt: "after", max_tokens: 4 });
  expect((await collect(`${c().url}${again.json.streams.sse}`)).frames.at(-1)?.event).toBe("end");
}, 60_000);
