// POST /v2/pools/{id}/purge against an in-process cluster: a pool whose model the node downloaded
// (https://, a local server) is refused while a task runs, then purged: its engine stops, the
// cached file is gone, the pool is not ready with the reason, and a preload downloads it again.
// A pool whose model is a name keeps everything and says why.

import { afterAll, afterEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PoolConfig } from "../../actors/node/config.ts";
import { cachePath, createResolveMemo } from "../../actors/node/models/index.ts";
import { mockPool, poolOf, startCluster, waitForNodes, type Cluster } from "../harness/cluster.ts";
import { getJsonStatus, listedPool, nodeSystem, postJson, readUntil, whenEvent } from "../harness/pools.ts";
import { submitTask } from "../harness/sse.ts";

const body = new Uint8Array(32 * 1024).map((_, i) => (i * 13) % 251);
let requests = 0;
const server = Bun.serve({ port: 0, fetch: () => (requests++, new Response(body)) });
const cache = mkdtempSync(join(tmpdir(), "llorch-purge-"));
afterAll(() => {
  server.stop(true);
  rmSync(cache, { recursive: true, force: true });
});

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const url = () => `http://127.0.0.1:${server.port}/models/purge-me.gguf`;
const pools = (id: string, op: string) => `${cluster!.url}/v2/pools/${id}/${op}`;

test("purge: refused while a task runs, then the engine stops, the cached file goes, and a preload downloads it again", async () => {
  const pool: PoolConfig = { id: "p0", engine: "mock-server", model: url(), devices: [], slots: 1, allow_cpu: true, mock: { token_delay_ms: 20 } };
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [pool] }],
    node: { healthIntervalMs: 50, models: { baseDir: cache, cacheDir: cache, allowDownloads: true, memo: createResolveMemo() } },
  });
  await waitForNodes(cluster, (n) => poolOf(n, "n1", "p0")?.ready === true);
  const file = cachePath(url(), cache);
  expect(statSync(file).size).toBe(body.length);
  expect(requests).toBe(1);

  // A task in flight: busy, nothing changes.
  const t = await submitTask(cluster.url, { model_ref: url(), prompt: "busy", max_tokens: 200 });
  const stream = await readUntil(`${cluster.url}${t.json.streams.sse}`, (f) => f.some((x) => x.event === "token"));
  const busy = await postJson(pools("p0", "purge"), {});
  expect(busy.status).toBe(409);
  expect(busy.json).toMatchObject({ code: "POOL_UNAVAILABLE", retriable: true, message: expect.stringContaining("has 1 task(s) running; drain it first"), nodes: [{ node_id: "n1", purged: false }] });
  expect(existsSync(file)).toBe(true);
  // The slot is free once the manager hears the replica's `released`.
  const released = whenEvent(nodeSystem(cluster, "n1"), (e) => e.type === "delivered" && e.path === "node/pool-p0/manager" && e.msg === "released");
  expect((await fetch(`${cluster.url}/v2/tasks/${t.json.task_id}/cancel`, { method: "POST" })).ok).toBe(true);
  await stream.rest();
  await released;

  const purged = await postJson(pools("p0", "purge"), { node_id: "n1" });
  expect(purged.status).toBe(200);
  expect(purged.json).toMatchObject({ pool_id: "p0", purged: true, bytes_freed: body.length, nodes: [{ node_id: "n1", purged: true, removed: [{ path: file, bytes: body.length }], bytes_freed: body.length, model: url() }] });
  expect(existsSync(file)).toBe(false);
  const health = await getJsonStatus(pools("p0", "health"));
  expect(health.json).toMatchObject({ ready: false, live: false, draining: true, last_error: expect.stringMatching(/^purged: /) });

  const again = await postJson(pools("p0", "preload"), {});
  expect(again.status).toBe(200);
  expect(requests).toBe(2);
  expect(statSync(file).size).toBe(body.length);
  expect((await getJsonStatus(pools("p0", "health"))).json).toMatchObject({ ready: true, draining: false });
}, 30_000);

test("purge of a pool whose model is a name: the engine stops, nothing is removed and the answer says why; bad input is refused", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0")] }] });
  await cluster.ready();
  const r = await postJson(pools("p0", "purge"), "");
  expect(r.status).toBe(200);
  expect(r.json).toMatchObject({ purged: true, bytes_freed: 0, nodes: [{ node_id: "n1", purged: true, removed: [], kept: "engine mock loads no model file on this node" }] });
  expect((await listedPool(cluster, "n1", "p0"))).toMatchObject({ ready: false, draining: true, last_error: expect.stringMatching(/^purged: /) });

  expect((await postJson(pools("nope", "purge"), {})).json).toMatchObject({ code: "NOT_FOUND" });
  const bad = await postJson(pools("p0", "purge"), { node_id: "n1", force: true });
  expect(bad.status).toBe(400);
  expect(bad.json).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining("force") });
});
