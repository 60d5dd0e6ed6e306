// The mock llama-server as a detached child (host/process) driven through the llama.cpp adapter:
// health wait, streaming, cancel that frees the engine's slot, a CUDA crash classified from the
// log, and stops that leave no process behind.

import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EngineError, LlamaCppEngine, type EngineEvent, type EngineRequest } from "../../adapters/engines/index.ts";
import { mockEngineArgv } from "../../engines/mock-server/main.ts";
import { classifyExit, freePort, isAlive, LOG_TAIL_BYTES, readLogTail, spawnEngine, stopGroup, waitHealthy, type EngineProcess } from "../../host/process/index.ts";

const engines: EngineProcess[] = [];
const adapters: LlamaCppEngine[] = [];
let dir = "";

afterEach(async () => {
  for (const a of adapters.splice(0)) await a.close();
  for (const p of engines.splice(0)) await stopGroup(p, { graceMs: 200 });
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

/** Spawns the engine the way a replica does: pid file first, then the health wait. */
async function startEngine(flags: string[]) {
  dir = mkdtempSync(join(tmpdir(), "llorch-engine-"));
  const port = freePort();
  const proc = spawnEngine({
    argv: mockEngineArgv(["--port", String(port), ...flags]),
    logPath: join(dir, ".runtime", "engine-p0.log"),
    pidPath: join(dir, ".runtime", "p0.pid"),
    cudaVisibleDevices: "",
  });
  engines.push(proc);
  expect(existsSync(proc.pidPath)).toBe(true);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitHealthy(baseUrl, { intervalMs: 20, exited: proc.exited });
  const adapter = new LlamaCppEngine({ baseUrl, healthTimeoutMs: 200 });
  adapters.push(adapter);
  return { proc, adapter, baseUrl };
}

const request = (over: Partial<EngineRequest> = {}): EngineRequest => ({ task_id: "t1", prompt: "across a process", max_tokens: 6, seed: 3, ...over });

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

const metric = async (baseUrl: string, name: string) => Number(new RegExp(`^llamacpp:${name} (\\d+)$`, "m").exec(await (await fetch(`${baseUrl}/metrics`)).text())?.[1]);

test("a detached engine streams through the adapter and stops without leaving a process", async () => {
  const { proc, adapter } = await startEngine(["--slots", "2", "--ctx", "2048"]);
  expect(await adapter.health()).toEqual({ live: true, ready: true });
  expect(await adapter.props()).toEqual({ slots_total: 2, ctx_max: 2048 });
  expect(adapter.version()).toBe("llamacpp-b0-mock");

  const { events, error } = await run(adapter, request());
  expect(error).toBeUndefined();
  expect(events[0]).toEqual({ type: "started", engine_version: "llamacpp-b0-mock" });
  expect(events.filter((e) => e.type === "token").map((e) => (e as { i: number }).i)).toEqual([0, 1, 2, 3, 4, 5]);
  expect(events.at(-1)).toMatchObject({ type: "end", tokens_out: 6, stop_reason: "length" });
  const again = await run(adapter, request({ task_id: "t2" }));
  expect(again.events.filter((e) => e.type === "token")).toEqual(events.filter((e) => e.type === "token"));

  const stop = await stopGroup(proc, { graceMs: 2000 });
  expect(stop.exit).toEqual({ code: 0, signal: null });
  expect(existsSync(proc.pidPath)).toBe(false);
  expect(() => process.kill(proc.pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
  expect(await adapter.health()).toEqual({ live: false, ready: false });
}, 20_000);

test("cancel mid-stream ends canceled and the engine stops generating, freeing its only slot", async () => {
  const { adapter, baseUrl, proc } = await startEngine(["--slots", "1", "--token-delay-ms", "20"]);
  const { events, error } = await run(adapter, request({ task_id: "long", max_tokens: 100_000 }), (e) => {
    if (e.type === "token" && e.i === 1) void adapter.cancel("long");
  });
  expect(error).toBeUndefined();
  expect(events.at(-1)).toMatchObject({ type: "end", tokens_out: 2, stop_reason: "canceled" });
  // The next request can only run once the canceled one has given its slot back.
  const next = await run(adapter, request({ task_id: "short", max_tokens: 1 }));
  expect(next.events.at(-1)).toMatchObject({ type: "end", tokens_out: 1, stop_reason: "length" });
  expect(await metric(baseUrl, "tokens_predicted_total")).toBeLessThan(10);
  expect(readFileSync(proc.logPath, "utf8")).toContain("cancel task");
}, 20_000);

test("a CUDA crash mid-stream: non-fatal WORKER_RESET on the stream, exit 1, cuda_error from the log", async () => {
  const { adapter, proc } = await startEngine(["--crash-after-tokens", "3", "--crash-cuda"]);
  const { events, error } = await run(adapter, request({ max_tokens: 50 }));
  expect(error).toBeInstanceOf(EngineError);
  expect([error?.code, error?.fatal]).toEqual(["WORKER_RESET", false]);
  expect(events.filter((e) => e.type === "token").length).toBeLessThanOrEqual(3);
  const exit = await proc.exited;
  expect(exit).toEqual({ code: 1, signal: null });
  const reason = classifyExit(exit, readLogTail(proc.logPath, LOG_TAIL_BYTES, proc.logOffset), { stopRequested: proc.stopRequested });
  expect(reason).toEqual({ kind: "cuda_error", detail: "CUDA error: an illegal memory access was encountered" });
  expect(await adapter.health()).toEqual({ live: false, ready: false });
}, 20_000);

test("a loading engine is live but not ready; a hung one is not live", async () => {
  dir = mkdtempSync(join(tmpdir(), "llorch-engine-"));
  const port = freePort();
  const proc = spawnEngine({ argv: mockEngineArgv(["--port", String(port), "--load-ms", "500"]), logPath: join(dir, "e.log"), pidPath: join(dir, "e.pid") });
  engines.push(proc);
  const adapter = new LlamaCppEngine({ baseUrl: `http://127.0.0.1:${port}`, healthTimeoutMs: 200 });
  let health = await adapter.health();
  while (!health.live) health = await adapter.health(); // until the process listens
  expect(health).toEqual({ live: true, ready: false });
  await waitHealthy(`http://127.0.0.1:${port}`, { intervalMs: 20, exited: proc.exited });
  expect(await adapter.health()).toEqual({ live: true, ready: true });

  const hungPort = freePort();
  const hung = spawnEngine({ argv: mockEngineArgv(["--port", String(hungPort), "--hang-health"]), logPath: join(dir, "h.log"), pidPath: join(dir, "h.pid") });
  engines.push(hung);
  const wait = await waitHealthy(`http://127.0.0.1:${hungPort}`, { intervalMs: 20, pollTimeoutMs: 100, timeoutMs: 500, exited: hung.exited }).catch((e: Error) => e);
  expect((wait as Error).message).toContain("health check failed");
  expect(await new LlamaCppEngine({ baseUrl: `http://127.0.0.1:${hungPort}`, healthTimeoutMs: 100 }).health()).toEqual({ live: false, ready: false });
}, 20_000);

test("an engine that ignores SIGTERM is SIGKILLed after the grace period, grandchild included", async () => {
  const { proc } = await startEngine(["--ignore-sigterm", "--grandchild"]);
  const helper = Number(/helper process pid=(\d+)/.exec(readFileSync(proc.logPath, "utf8"))?.[1]);
  const stop = await stopGroup(proc, { graceMs: 300 });
  expect(stop).toMatchObject({ escalated: true, exit: { code: null, signal: "SIGKILL" } });
  expect(() => process.kill(proc.pid, 0)).toThrow();
  expect(isAlive(helper)).toBe(false); // an orphan's zombie may linger until PID 1 reaps it
  expect(existsSync(proc.pidPath)).toBe(false);
}, 20_000);
