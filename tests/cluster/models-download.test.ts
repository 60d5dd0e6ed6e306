// Model refs on the node: a pool whose model is an https:// URL is downloaded (when allowed),
// verified against its sha256 and served; a wrong digest keeps the pool unready with the reason;
// download progress shows as the pool's preparation steps and in the 202 of a task that waits.

import { afterAll, afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PoolConfig } from "../../actors/node/config.ts";
import { createResolveMemo } from "../../actors/node/models/index.ts";
import { poolOf, startCluster, waitForNodes, type Cluster } from "../harness/cluster.ts";
import { collect, submitTask } from "../harness/sse.ts";

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

test("while a model downloads, the pool says how far it got, and a task waiting for it is told in its 202", async () => {
  // A server that sends the headers (with Content-Length) and half of the file, then holds the
  // rest until the test lets it go. Raw HTTP/1.1: a streamed Response would be sent chunked.
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const half = body.length / 2;
  const answered = new Set<unknown>();
  const slow = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket) {
        if (answered.has(socket)) return; // the rest of a request that came in pieces
        answered.add(socket);
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n`);
        socket.write(body.slice(0, half));
        void released.then(() => {
          socket.write(body.slice(half));
          socket.end();
        });
      },
    },
  });
  try {
    const model = `http://127.0.0.1:${slow.port}/models/slow.gguf`;
    const c = await start({ ...pool(`sha256:${digest}`), model });
    const during = await waitForNodes(c, (n) => (poolOf(n, "n1", "p0")?.preparation?.[0]?.bytes_done ?? 0) > 0);
    const p = poolOf(during, "n1", "p0")!;
    expect(p.ready).toBe(false);
    expect(p.last_error).toStartWith("preparing the model (download");
    expect(p.preparation).toEqual([
      expect.objectContaining({ kind: "model_fetch", group: "model", status: "running", phase: "download", bytes_total: body.length, description: expect.stringContaining("slow.gguf") }),
    ]);
    expect(p.preparation![0]!.bytes_done).toBeLessThanOrEqual(half);

    const waiting = await submitTask(c.url, { model_ref: model, prompt: "after the download", max_tokens: 3 });
    expect(waiting.status).toBe(202);
    expect(waiting.json.preparation.steps).toEqual([
      expect.objectContaining({ id: p.preparation![0]!.id, kind: "model_fetch", group: "model", status: "running", bytes_total: body.length, node_id: "n1", pool_id: "p0" }),
    ]);

    release();
    const after = await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.ready === true);
    expect(poolOf(after, "n1", "p0")?.preparation).toBeUndefined();
    expect((await collect(`${c.url}${waiting.json.streams.sse}`)).frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 3 } });
    // Once a pool serves the model, a 202 has nothing to prepare.
    const ready = await submitTask(c.url, { model_ref: model, prompt: "now", max_tokens: 1 });
    expect(ready.json.preparation).toBeUndefined();
    await collect(`${c.url}${ready.json.streams.sse}`);
  } finally {
    release();
    slow.stop(true);
  }
}, 30_000);
