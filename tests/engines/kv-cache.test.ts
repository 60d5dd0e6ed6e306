// KV cache use read by the llama.cpp adapter from real engines on the tiny model: the built-in
// engine (its /metrics ratio and /slots token counts) and a real llama-server started with
// --metrics, whose build exports no ratio there, so the adapter reads /slots. Before any request
// the cache is empty; after one, it holds the prompt and the generated tokens. Last, a node's
// llamacpp pool: the figure reaches the control plane's kv_cache_usage_ratio.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LlamaCppEngine } from "../../adapters/engines/llamacpp.ts";
import { ensureTinyModel } from "../../engines/tiny-model/tiny-gguf.ts";
import { parseBuiltinEngineFlags } from "../../engines/builtin/main.ts";
import { startBuiltinEngine, type BuiltinEngineHandle } from "../../engines/builtin/server.ts";
import { LLAMA_SERVER_MISSING, llamaServerPath, startLlamaServer, type LlamaServer } from "../harness/llama-server.ts";
import { DEFAULT_TINY_MODEL_PATH } from "../../engines/tiny-model/tiny-gguf.ts";
import { parseExposition } from "../../adapters/metrics/index.ts";
import { poolOf, startCluster, waitForNodes } from "../harness/cluster.ts";
import { collect, submitTask } from "../harness/sse.ts";

const built = llamaServerPath() !== undefined;
if (!built) console.warn(LLAMA_SERVER_MISSING);

/** What /slots says: the tokens held over the contexts. */
async function slotsFigure(url: string): Promise<{ tokens: number; ctx: number }> {
  const slots = (await (await fetch(`${url}/slots`)).json()) as { n_ctx: number; n_prompt_tokens?: number }[];
  return { tokens: slots.reduce((n, s) => n + (s.n_prompt_tokens ?? 0), 0), ctx: slots.reduce((n, s) => n + s.n_ctx, 0) };
}

async function complete(url: string, n: number) {
  const res = await fetch(`${url}/completion`, { method: "POST", body: JSON.stringify({ prompt: "Once upon a time", n_predict: n, ignore_eos: true }) });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

describe("built-in engine", () => {
  let engine: BuiltinEngineHandle;
  beforeAll(async () => {
    engine = startBuiltinEngine(parseBuiltinEngineFlags(["--model", ensureTinyModel().path, "--port", "0", "--cpu", "--parallel", "2", "--ctx", "512"]), { log: () => {} });
    await engine.ready;
  }, 60_000);
  afterAll(async () => {
    await engine?.stop();
  });

  test("empty at first; after a request its tokens over both slots' contexts, on /metrics and /slots alike", async () => {
    const adapter = new LlamaCppEngine({ baseUrl: engine.url });
    expect(await adapter.kvCacheUsage()).toBe(0);
    await complete(engine.url, 20);
    const { tokens, ctx } = await slotsFigure(engine.url);
    expect(ctx).toBe(1024);
    expect(tokens).toBeGreaterThanOrEqual(20);
    const ratio = await adapter.kvCacheUsage();
    expect(ratio).toBe(tokens / ctx);
    expect(ratio!).toBeLessThanOrEqual(1);
  });
});

describe.skipIf(!built)("real llama-server --metrics", () => {
  let server: LlamaServer;
  beforeAll(async () => {
    server = await startLlamaServer({ model: ensureTinyModel().path, ctx: 1024, parallel: 2, extraArgs: ["--metrics"] });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  test("the adapter reads a ratio in [0,1] that moves with a request, from /slots", async () => {
    const adapter = new LlamaCppEngine({ baseUrl: server.url });
    expect(await adapter.kvCacheUsage()).toBe(0);
    await complete(server.url, 24);
    const { tokens, ctx } = await slotsFigure(server.url);
    expect(ctx).toBe(1024); // 2 slots x 512
    expect(tokens).toBeGreaterThanOrEqual(24);
    const ratio = await adapter.kvCacheUsage();
    expect(ratio).toBe(tokens / ctx);
    expect(ratio!).toBeGreaterThan(0);
    expect(ratio!).toBeLessThanOrEqual(1);
  });
});

test.skipIf(!built)("a node's llamacpp pool: the control plane's kv_cache_usage_ratio shows what /slots holds", async () => {
  ensureTinyModel(DEFAULT_TINY_MODEL_PATH);
  const cluster = await startCluster({
    nodes: [{ id: "n1", pools: [{ id: "real", engine: "llamacpp", binary: llamaServerPath(), model: "tiny", model_file: DEFAULT_TINY_MODEL_PATH, devices: [], slots: 2, ctx: 512, threads: 1, allow_cpu: true }] }],
    heartbeatMs: 100,
    node: { healthIntervalMs: 50 },
  });
  try {
    await cluster.ready();
    const t = await submitTask(cluster.url, { model_ref: "tiny", prompt: "real server", max_tokens: 24, seed: 5 });
    await collect(`${cluster.url}${t.json.streams.sse}`);
    // The slot keeps its tokens after the task: a figure above 0 arrives at a later read.
    const nodes = await waitForNodes(cluster, (n) => (poolOf(n, "n1", "real")?.kv_cache_usage_ratio ?? 0) > 0);
    const ratio = poolOf(nodes, "n1", "real")!.kv_cache_usage_ratio!;
    expect(ratio).toBeGreaterThanOrEqual(24 / 1024);
    expect(ratio).toBeLessThanOrEqual(1);
    const samples = parseExposition(await (await fetch(`${cluster.url}/metrics`)).text()).samples.filter((s) => s.name === "kv_cache_usage_ratio");
    expect(samples.map((s) => [s.labels.pool_id, s.labels.engine, s.labels.replica_id])).toEqual([["real", "llamacpp", "replica-0"]]);
    expect(samples[0]!.value).toBeGreaterThan(0);
  } finally {
    await cluster.close();
  }
}, 60_000);
