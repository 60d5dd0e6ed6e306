// The built-in engine as a node runs it: a detached child (host/process) on the tiny model, driven
// through the llama.cpp adapter. Real tokens, props, determinism across requests and slots,
// cancel that stops generation, EOS, SIGTERM mid-stream (exit 0, WORKER_RESET on the stream),
// and start failures that exit 1 with the reason in the log.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlamaGpuTypes } from "node-llama-cpp";
import { EngineError, LlamaCppEngine, type EngineEvent, type EngineRequest } from "../../adapters/engines/index.ts";
import { builtinEngineArgv } from "../../engines/builtin/main.ts";
import { ensureTinyModel, TINY_EOS_TRIGGER } from "../../engines/tiny-model/tiny-gguf.ts";
import { classifyExit, freePort, LOG_TAIL_BYTES, readLogTail, spawnEngine, stopGroup, waitHealthy, type EngineProcess } from "../../host/process/index.ts";

const engines: EngineProcess[] = [];
const adapters: LlamaCppEngine[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const a of adapters.splice(0)) await a.close();
  for (const p of engines.splice(0)) await stopGroup(p, { graceMs: 1000 });
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function spawn(flags: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "llorch-builtin-"));
  dirs.push(dir);
  const port = freePort();
  const proc = spawnEngine({ argv: builtinEngineArgv(["--port", String(port), ...flags]), logPath: join(dir, "engine.log"), pidPath: join(dir, "engine.pid"), cudaVisibleDevices: "" });
  engines.push(proc);
  return { proc, baseUrl: `http://127.0.0.1:${port}` };
}

async function start(flags: string[]) {
  const { proc, baseUrl } = spawn(["--model", ensureTinyModel().path, "--cpu", ...flags]);
  await waitHealthy(baseUrl, { intervalMs: 50, timeoutMs: 30_000, exited: proc.exited });
  const adapter = new LlamaCppEngine({ baseUrl });
  adapters.push(adapter);
  return { proc, baseUrl, adapter };
}

const request = (over: Partial<EngineRequest> = {}): EngineRequest => ({ task_id: "t1", prompt: "through the node", max_tokens: 24, ...over });

async function run(adapter: LlamaCppEngine, req: EngineRequest, onEvent: (e: EngineEvent) => void = () => {}) {
  const events: EngineEvent[] = [];
  try {
    for await (const e of adapter.submit(req, new AbortController().signal)) {
      events.push(e);
      onEvent(e);
    }
    return { events, error: undefined };
  } catch (error) {
    return { events, error: error as EngineError };
  }
}

const text = (events: EngineEvent[]) => events.flatMap((e) => (e.type === "token" ? [e.t] : []));
const metric = async (baseUrl: string, name: string) => Number(new RegExp(`^llamacpp:${name} ([\\d.]+)$`, "m").exec(await (await fetch(`${baseUrl}/metrics`)).text())?.[1]);

test("real tokens through the adapter; the same seed gives the same stream on any slot; SIGTERM exits 0", async () => {
  const { adapter, proc } = await start(["--parallel", "2", "--ctx", "1024"]);
  expect(await adapter.health()).toMatchObject({ live: true, ready: true });
  expect(await adapter.props()).toEqual({ slots_total: 2, ctx_max: 1024 });
  expect(adapter.version()).toMatch(/^llamacpp-.+-node-llama-cpp-3\.\d+\.\d+$/);

  const seeded = request({ temperature: 0.8, seed: 42 });
  const first = await run(adapter, seeded);
  expect(first.error).toBeUndefined();
  expect(first.events[0]).toEqual({ type: "started", engine_version: adapter.version() });
  expect(first.events.at(-1)).toMatchObject({ type: "end", tokens_out: 24, stop_reason: "length" });
  expect(text(first.events).join("").length).toBeGreaterThan(0);
  // Again, and again while the other slot runs something else: byte-identical.
  const [beside] = await Promise.all([run(adapter, { ...seeded, task_id: "t2" }), run(adapter, request({ task_id: "other", prompt: "noise", max_tokens: 300, temperature: 1, seed: 7 }))]);
  expect(text(beside.events)).toEqual(text(first.events));

  const stop = await stopGroup(proc, { graceMs: 1000 });
  expect(stop).toMatchObject({ escalated: false, exit: { code: 0, signal: null } });
  expect(readFileSync(proc.logPath, "utf8")).toContain("main: received SIGTERM, shutting down");
}, 30_000);

test("cancel through the adapter ends canceled and the engine stops generating", async () => {
  const { adapter, baseUrl, proc } = await start([]);
  const { events, error } = await run(adapter, request({ task_id: "long", max_tokens: 100_000, ignore_eos: true }), (e) => {
    if (e.type === "token" && e.i === 2) void adapter.cancel("long");
  });
  expect(error).toBeUndefined();
  expect(events.at(-1)).toMatchObject({ type: "end", stop_reason: "canceled" });
  while ((await metric(baseUrl, "requests_processing")) > 0);
  const generated = await metric(baseUrl, "tokens_predicted_total");
  expect(generated).toBeLessThan(2000); // a context of 8192 tokens would have allowed far more
  // The only slot is free again.
  expect((await run(adapter, request({ task_id: "next", max_tokens: 3 }))).events.at(-1)).toMatchObject({ type: "end", tokens_out: 3 });
  expect(readFileSync(proc.logPath, "utf8")).toContain("cancel task");
}, 30_000);

test("end of generation: stop_reason stop; with ignore_eos it runs to max_tokens", async () => {
  const { adapter } = await start([]);
  const eos = await run(adapter, request({ prompt: `the end${TINY_EOS_TRIGGER}` }));
  expect(eos.events.at(-1)).toMatchObject({ type: "end", stop_reason: "stop", tokens_out: 1 });
  const ignored = await run(adapter, request({ prompt: `the end${TINY_EOS_TRIGGER}`, ignore_eos: true, max_tokens: 16 }));
  expect(ignored.events.at(-1)).toMatchObject({ type: "end", stop_reason: "length", tokens_out: 16 });
}, 30_000);

test("SIGTERM mid-stream: the engine exits 0 within a second and the stream ends WORKER_RESET", async () => {
  const { adapter, proc } = await start([]);
  let stopping: ReturnType<typeof stopGroup> | undefined;
  const { error } = await run(adapter, request({ max_tokens: 100_000, ignore_eos: true }), (e) => {
    if (e.type === "token" && e.i === 0) stopping = stopGroup(proc, { graceMs: 1000 });
  });
  expect(error).toBeInstanceOf(EngineError);
  expect(error?.code).toBe("WORKER_RESET");
  expect(await stopping).toMatchObject({ escalated: false, exit: { code: 0, signal: null } });
}, 30_000);

test("start failures exit 1 with the reason in the log: missing file, not a GGUF, CUDA absent", async () => {
  const failure = async (flags: string[]) => {
    const { proc, baseUrl } = spawn(flags);
    const wait = await waitHealthy(baseUrl, { intervalMs: 50, timeoutMs: 30_000, exited: proc.exited }).catch((e: Error) => e);
    expect(wait).toMatchObject({ reason: "exited" });
    const exit = await proc.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    const log = readLogTail(proc.logPath, LOG_TAIL_BYTES, proc.logOffset);
    expect(classifyExit(exit, log)).toEqual({ kind: "exit", code: 1 });
    return log;
  };
  const dir = mkdtempSync(join(tmpdir(), "llorch-builtin-bad-"));
  dirs.push(dir);
  expect(await failure(["--model", join(dir, "missing.gguf"), "--cpu"])).toContain("No such file or directory");
  writeFileSync(join(dir, "junk.gguf"), "this is not a model file at all");
  expect(await failure(["--model", join(dir, "junk.gguf"), "--cpu"])).toContain("error loading model");
  // Without --cpu the engine needs CUDA; the child sees no GPU (CUDA_VISIBLE_DEVICES="").
  if (!(await getLlamaGpuTypes("supported")).includes("cuda")) {
    expect(await failure(["--model", ensureTinyModel().path])).toContain("Pass --cpu to run on the CPU");
  }
  expect(await failure(["--model", ensureTinyModel().path, "--threads", "zero"])).toContain("--threads needs a whole number");
}, 60_000);
