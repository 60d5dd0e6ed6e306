// Model refs on the node: a pool whose model is an https:// URL is downloaded (when allowed),
// verified against its sha256 and served; a wrong digest keeps the pool unready with the reason.

import { afterAll, afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PoolConfig } from "../actors/node/config.ts";
import { createResolveMemo } from "../actors/node/models/index.ts";
import { poolOf, startCluster, waitForNodes, type Cluster } from "./harness/cluster.ts";
import { collect, submitTask } from "./harness/sse.ts";

const body = new Uint8Array(64 * 1024).map((_, i) => (i * 7) % 251);
const digest = createHash("sha256").update(body).digest("hex");
let requests = 0;
const server = Bun.serve({ port: 0, fetch: () => (requests++, new Response(body)) });
const cache = mkdtempSync(join(tmpdir(), "llorch-models-"));
afterAll(() => {
  server.stop(true);
  rmSync(cache, { recursive: true, force: true });
});

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const url = () => `http://127.0.0.1:${server.port}/models/small.gguf`;
const pool = (model_digest: string): PoolConfig => ({ id: "p0", engine: "mock-server", model: url(), model_digest, devices: [], slots: 1, allow_cpu: true });

async function start(p: PoolConfig): Promise<Cluster> {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [p] }],
    node: { healthIntervalMs: 50, models: { baseDir: cache, cacheDir: cache, allowDownloads: true, memo: createResolveMemo() }, supervision: { breaker: { threshold: 2 } } },
  });
  return cluster;
}

test("an https model is downloaded once, verified, and served under its ref", async () => {
  const c = await start(pool(`sha256:${digest}`));
  const nodes = await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.ready === true);
  expect(poolOf(nodes, "n1", "p0")?.models_available).toEqual([url()]);
  const t = await submitTask(c.url, { model_ref: url(), prompt: "downloaded", max_tokens: 3 });
  expect((await collect(`${c.url}${t.json.streams.sse}`)).frames.at(-1)?.event).toBe("end");
  expect(requests).toBe(1);
}, 30_000);

test("a digest mismatch keeps the pool unready and says why", async () => {
  const c = await start(pool("0".repeat(64)));
  const nodes = await waitForNodes(c, (n) => /digest/i.test(poolOf(n, "n1", "p0")?.last_error ?? ""));
  expect(poolOf(nodes, "n1", "p0")).toMatchObject({ ready: false, last_error: expect.stringContaining(digest) });
}, 30_000);

test("while a model downloads, the pool says how far it got", async () => {
  // A server that trickles the file: 16 chunks, 40 ms apart.
  const chunks = Array.from({ length: 16 }, (_, k) => body.slice(k * 4096, (k + 1) * 4096));
  const slow = Bun.serve({
    port: 0,
    fetch: () =>
      new Response(
        new ReadableStream({
          async pull(c) {
            const next = chunks.shift();
            if (!next) return c.close();
            await Bun.sleep(40);
            c.enqueue(next);
          },
        }),
        { headers: { "content-length": String(body.length) } },
      ),
  });
  try {
    const c = await start({ ...pool(`sha256:${digest}`), model: `http://127.0.0.1:${slow.port}/models/slow.gguf` });
    const during = await waitForNodes(c, (n) => (poolOf(n, "n1", "p0")?.last_error ?? "").startsWith("preparing the model (download"));
    expect(poolOf(during, "n1", "p0")?.ready).toBe(false);
    await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.ready === true);
  } finally {
    slow.stop(true);
  }
}, 30_000);
