// A node pool on a real llama-server (built offline by `bun run build:llama-server`): the node
// starts it as a child process on the tiny model and tasks stream real tokens through it. Skips
// with a message when the build is absent.

import { afterAll, expect, test } from "bun:test";
import { freePort } from "../../host/index.ts";
import { DEFAULT_TINY_MODEL_PATH, ensureTinyModel } from "../../engines/tiny-model/tiny-gguf.ts";
import { startCluster, type Cluster } from "../harness/cluster.ts";
import { LLAMA_SERVER_MISSING, llamaServerPath } from "../harness/llama-server.ts";
import { collect, submitTask } from "../harness/sse.ts";

const binary = llamaServerPath();
if (!binary) console.warn(`tests/engines/node-llama-server.test.ts: ${LLAMA_SERVER_MISSING}`);

let cluster: Cluster | undefined;
afterAll(async () => {
  await cluster?.close();
});

test.skipIf(!binary)("a llamacpp pool runs a real llama-server child and streams its tokens; ctx is per slot", async () => {
  ensureTinyModel(DEFAULT_TINY_MODEL_PATH);
  const port = freePort();
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [{ id: "real", engine: "llamacpp", binary, model: "tiny", model_file: DEFAULT_TINY_MODEL_PATH, devices: [], slots: 2, ctx: 1024, port, threads: 1, allow_cpu: true }] }],
    node: { healthIntervalMs: 100 },
  });
  await cluster.ready();
  // ctx_max is what one task may use: llama-server splits --ctx-size among its slots.
  const slots = (await (await fetch(`http://127.0.0.1:${port}/slots`)).json()) as { n_ctx: number }[];
  expect(slots.map((s) => s.n_ctx)).toEqual([1024, 1024]);
  const run = async () => {
    const t = await submitTask(cluster!.url, { model_ref: "tiny", prompt: "real server", max_tokens: 24, seed: 5 });
    return (await collect(`${cluster!.url}${t.json.streams.sse}`)).frames;
  };
  const a = await run();
  expect(a[0]).toMatchObject({ event: "started", data: { engine: "llamacpp", engine_version: expect.stringMatching(/^llamacpp-/) } });
  expect(a.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 24 } });
  const b = await run();
  const text = (f: typeof a) => f.filter((x) => x.event === "token").map((x) => x.data.t).join("");
  expect(text(b)).toBe(text(a)); // greedy by default: the same stream again
}, 60_000);
