// Drain, reload and preload of a pool whose engine is a child process: a reload to a model file that does
// not exist rolls back to the old engine (409); one to an existing file swaps the process; a
// drain stops the engine process once in-flight work is done; a preload starts a new one.

import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive } from "../../host/index.ts";
import { parseExposition } from "../../adapters/metrics/index.ts";
import type { PoolConfig } from "../../actors/node/config.ts";
import { poolOf, startCluster, waitForNodes, type Cluster } from "../harness/cluster.ts";
import { collect, submitTask } from "../harness/sse.ts";

const dir = mkdtempSync(join(tmpdir(), "pools-process-"));
const modelFile = join(dir, "next.gguf");
writeFileSync(modelFile, "GGUF");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const pool: PoolConfig = { id: "p0", engine: "mock-server", model: "tiny", devices: [], slots: 1, allow_cpu: true, mock: { token_delay_ms: 5 } };

async function start(): Promise<Cluster> {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [pool] }],
    node: { healthIntervalMs: 50, healthTimeoutMs: 200, stopGraceMs: 1000, engineReadyTimeoutMs: 5000, reloadReadyTimeoutMs: 5000 },
  });
  await cluster.ready();
  return cluster;
}

const pid = (c: Cluster) => Number(readFileSync(join(c.runtimeDirs.get("n1")!, "p0.pid"), "utf8").split("\n")[0]);
const post = (c: Cluster, op: string, body: unknown) =>
  fetch(`${c.url}/v2/pools/p0/${op}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

test("a reload to a missing model file fails, rolls back to the old engine process, and the pool serves", async () => {
  const c = await start();
  const before = pid(c);
  const res = await post(c, "reload", { new_model_ref: join(dir, "absent", "model.gguf") });
  expect(res.status).toBe(409);
  // The node resolves the model before spawning: the missing file is the reason, no engine ran.
  expect(await res.json()).toMatchObject({ code: "POOL_UNREADY", rolled_back: true, message: expect.stringContaining("model not ready") });
  const nodes = await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.ready === true);
  expect(poolOf(nodes, "n1", "p0")?.models_available).toEqual(["tiny"]);
  // The old model runs again in a new process; the failed one and the first are gone.
  expect(isAlive(before)).toBe(false);
  expect(isAlive(pid(c))).toBe(true);
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "still here", max_tokens: 3 });
  expect((await collect(`${c.url}${t.json.streams.sse}`)).frames.at(-1)?.event).toBe("end");
  const { samples } = parseExposition(await c.nodeMetrics.get("n1")!.registry.metrics());
  expect(samples.find((s) => s.name === "reload_failure_total" && s.labels.reason === "rolled_back")?.value).toBe(1);
}, 30_000);

test("a reload to an existing model file swaps the engine process", async () => {
  const c = await start();
  const before = pid(c);
  const res = await post(c, "reload", { new_model_ref: modelFile });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ pool_id: "p0", success: true, rolled_back: false });
  const nodes = await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.models_available[0] === modelFile && poolOf(n, "n1", "p0")?.ready === true);
  expect(poolOf(nodes, "n1", "p0")?.ready).toBe(true);
  expect(isAlive(before)).toBe(false);
  const t = await submitTask(c.url, { model_ref: modelFile, prompt: "new model", max_tokens: 3 });
  expect(t.status).toBe(202);
  expect((await collect(`${c.url}${t.json.streams.sse}`)).frames.at(-1)?.event).toBe("end");
}, 30_000);

test("a drain lets the running task finish, then stops the engine process", async () => {
  const c = await start();
  const engine = pid(c);
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "finish me", max_tokens: 40 });
  const stream = collect(`${c.url}${t.json.streams.sse}`);
  const res = await post(c, "drain", { deadline_ms: 10_000 });
  expect(res.status).toBe(202);
  expect(poolOf(await c.control.plane.port.nodes(), "n1", "p0")?.draining).toBe(true);
  const frames = (await stream).frames;
  expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 40 } });
  await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.draining === true && poolOf(n, "n1", "p0")?.ready === false && !existsSync(join(c.runtimeDirs.get("n1")!, "p0.pid")));
  expect(isAlive(engine)).toBe(false);
  const { samples } = parseExposition(await c.nodeMetrics.get("n1")!.registry.metrics());
  expect(samples.find((s) => s.name === "drain_duration_ms_count")?.value).toBe(1);
}, 30_000);

test("a preload starts a drained pool's engine process again; the pool serves and the preload is counted", async () => {
  const c = await start();
  const first = pid(c);
  expect((await post(c, "drain", { deadline_ms: 0 })).status).toBe(202);
  await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.ready === false && !existsSync(join(c.runtimeDirs.get("n1")!, "p0.pid")));
  expect(isAlive(first)).toBe(false);

  const res = await fetch(`${c.url}/v2/pools/p0/preload`, { method: "POST" });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ pool_id: "p0", ready: true, nodes: [{ node_id: "n1", ready: true, already: false }] });
  const second = pid(c);
  expect(second).not.toBe(first);
  expect(isAlive(second)).toBe(true);
  expect(poolOf(await c.control.plane.port.nodes(), "n1", "p0")).toMatchObject({ ready: true, draining: false });
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "back again", max_tokens: 3 });
  expect((await collect(`${c.url}${t.json.streams.sse}`)).frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 3 } });
  const { samples } = parseExposition(await c.nodeMetrics.get("n1")!.registry.metrics());
  expect(samples.find((s) => s.name === "pool_preload_total" && s.labels.outcome === "ready")?.value).toBe(1);
}, 30_000);
