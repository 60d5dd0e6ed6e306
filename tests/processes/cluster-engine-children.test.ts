// Engines as child processes: a cluster whose pools run our llama.cpp-compatible mock
// engine program. Killing the child makes the pool unready, the restart policy brings it back;
// a crash loop opens the circuit breaker; a hung engine is replaced after three failed health
// polls; a crash mid-stream reaches the client as WORKER_RESET; stopping the node leaves no
// engine process behind.

import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseExposition } from "../../adapters/metrics/index.ts";
import { isAlive } from "../../host/index.ts";
import type { PoolConfig } from "../../actors/node/config.ts";
import { poolOf, startCluster, waitForNodes, type Cluster } from "../harness/cluster.ts";
import { collect, openSse, submitTask, type Frame } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

function serverPool(id: string, mock: PoolConfig["mock"] = {}, extra: Partial<PoolConfig> = {}): PoolConfig {
  return { id, engine: "mock-server", model: "tiny", devices: [], slots: 1, allow_cpu: true, mock, ...extra };
}

async function start(pools: PoolConfig[], supervision: Record<string, unknown> = {}): Promise<Cluster> {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools }],
    node: {
      healthIntervalMs: 50,
      engineReadyTimeoutMs: 1000,
      healthTimeoutMs: 200,
      stopGraceMs: 1000,
      supervision: { backoff: { initialMs: 20, maxMs: 200, jitter: 0 }, ...supervision },
    },
  });
  return cluster;
}

function enginePid(c: Cluster, pool: string): number {
  return Number(readFileSync(join(c.runtimeDirs.get("n1")!, `${pool}.pid`), "utf8").split("\n")[0]);
}

async function nodeSample(c: Cluster, name: string, labels: Record<string, string>): Promise<number> {
  const { samples } = parseExposition(await c.nodeMetrics.get("n1")!.registry.metrics());
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

const ready = (pool: string) => (nodes: Parameters<typeof poolOf>[0]) => poolOf(nodes, "n1", pool)?.ready === true;
const down = (pool: string) => (nodes: Parameters<typeof poolOf>[0]) => poolOf(nodes, "n1", pool)?.ready === false;

test("a task streams through an engine child process; its pid file and log are where the node keeps them", async () => {
  const c = await start([serverPool("p0", { token_delay_ms: 1 })]);
  await c.ready();
  const pid = enginePid(c, "p0");
  expect(isAlive(pid)).toBe(true);
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "child", max_tokens: 12, seed: 3 });
  const frames = (await collect(`${c.url}${t.json.streams.sse}`)).frames.filter((f) => f.event !== "metrics");
  expect(frames[0]).toMatchObject({ event: "started", data: { engine: "mock", pool_id: "p0" } });
  expect(frames.filter((f) => f.event === "token")).toHaveLength(12);
  expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 12 } });
  expect(readFileSync(join(c.runtimeDirs.get("n1")!, "engine-p0.log"), "utf8")).toContain("server is listening");

  await c.close();
  cluster = undefined;
  // Stopping the node stopped the engine's whole process group.
  expect(isAlive(pid)).toBe(false);
}, 30_000);

test("killing the engine child: the pool goes unready, is restarted after backoff, and serves again", async () => {
  const c = await start([serverPool("p0")]);
  await c.ready();
  const first = enginePid(c, "p0");
  process.kill(first, "SIGKILL");
  await waitForNodes(c, down("p0"));
  const back = await waitForNodes(c, ready("p0"));
  expect(poolOf(back, "n1", "p0")?.ready).toBe(true);
  const second = enginePid(c, "p0");
  expect(second).not.toBe(first);
  expect(isAlive(first)).toBe(false);
  expect(await nodeSample(c, "restart_scheduled_total", { pool_id: "p0", crash_reason: "signal" })).toBe(1);
  expect(await nodeSample(c, "engine_crashes_total", { pool_id: "p0", crash_reason: "signal" })).toBe(1);
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "after", max_tokens: 3 });
  expect((await collect(`${c.url}${t.json.streams.sse}`)).frames.at(-1)?.event).toBe("end");
}, 30_000);

test("an engine that runs out of GPU memory at every start opens the circuit breaker; the pool says why", async () => {
  const c = await start([serverPool("p0", { oom: true })], { breaker: { threshold: 3, timeoutMs: 60_000 } });
  const nodes = await waitForNodes(c, (n) => /circuit breaker open/.test(poolOf(n, "n1", "p0")?.last_error ?? ""));
  expect(poolOf(nodes, "n1", "p0")).toMatchObject({ ready: false, last_error: expect.stringContaining("out of GPU memory") });
  expect(await nodeSample(c, "circuit_breaker_open_total", { pool_id: "p0", class: "cuda" })).toBe(1);
  expect(await nodeSample(c, "circuit_breaker_state", { pool_id: "p0", class: "cuda" })).toBe(1);
  expect(await nodeSample(c, "engine_crashes_total", { pool_id: "p0", crash_reason: "out_of_memory" })).toBe(3);
  // No engine runs while the breaker is open.
  expect(existsSync(join(c.runtimeDirs.get("n1")!, "p0.pid"))).toBe(false);
}, 30_000);

test("an engine that never answers its health check is stopped at the ready timeout and retried", async () => {
  const c = await start([serverPool("p0", { hang_health: true })]);
  await waitForNodes(c, (n) => (poolOf(n, "n1", "p0")?.last_error ?? "").includes("health check failed"));
  expect(await nodeSample(c, "engine_crashes_total", { pool_id: "p0", crash_reason: "health_check_failure" })).toBeGreaterThanOrEqual(1);
}, 30_000);

test("a running engine that hangs (SIGSTOP) is killed after three failed health polls and replaced", async () => {
  const c = await start([serverPool("p0")]);
  await c.ready();
  const first = enginePid(c, "p0");
  process.kill(first, "SIGSTOP");
  await waitForNodes(c, down("p0"));
  await waitForNodes(c, ready("p0"));
  expect(enginePid(c, "p0")).not.toBe(first);
  expect(isAlive(first)).toBe(false);
  expect(await nodeSample(c, "engine_crashes_total", { pool_id: "p0", crash_reason: "health_check_failure" })).toBe(1);
  expect(await nodeSample(c, "pool_health_checks_total", { pool_id: "p0", outcome: "failure" })).toBeGreaterThanOrEqual(3);
}, 30_000);

test("an engine that dies mid-stream with a CUDA error: the client gets WORKER_RESET and the crash is classified", async () => {
  const c = await start([serverPool("p0", { token_delay_ms: 2, crash_after_tokens: 5, crash_cuda: true })]);
  await c.ready();
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "doomed", max_tokens: 100 });
  const frames: Frame[] = [];
  for await (const f of (await openSse(`${c.url}${t.json.streams.sse}`)).frames) frames.push(f);
  expect(frames.at(-1)).toMatchObject({ event: "error", data: { code: "WORKER_RESET", retriable: true } });
  await waitForNodes(c, ready("p0"));
  expect(await nodeSample(c, "engine_crashes_total", { pool_id: "p0", crash_reason: "cuda_error" })).toBe(1);
}, 30_000);
