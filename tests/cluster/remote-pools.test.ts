// Pools served by engines the node does not run: an OpenAI-compatible server (vLLM stand-in,
// API key read from an environment variable) and a TGI server, both reached over HTTP.

import { afterEach, expect, test } from "bun:test";
import { FakeGpuProbe } from "../fixtures/nvml/index.ts";
import { poolOf, startCluster, waitForNodes, type Cluster } from "../harness/cluster.ts";
import { collect, submitTask } from "../harness/sse.ts";
import { startOpenAiStandin, type OpenAiStandin } from "../fixtures/openai-server.ts";
import { startTgiStandin, type TgiStandin } from "../fixtures/tgi-server.ts";

let cluster: Cluster | undefined;
const servers: (OpenAiStandin | TgiStandin)[] = [];
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
  for (const s of servers.splice(0)) await s.close();
});

test("an openai pool (vLLM, key from the environment) and a tgi pool stream tasks end to end", async () => {
  const vllm = startOpenAiStandin({ flavor: "vllm", model: "served-llama", apiKey: "sk-remote-secret-0123456789" });
  const tgi = startTgiStandin({ modelId: "tgi-model" });
  servers.push(vllm, tgi);
  process.env.TEST_REMOTE_KEY = "sk-remote-secret-0123456789";
  cluster = await startCluster({
    nodes: [
      {
        id: "n1",
        pools: [
          { id: "remote", engine: "openai", model: "remote-llama", served_model: "served-llama", url: `${vllm.url}/v1`, api_key_env: "TEST_REMOTE_KEY", devices: [], slots: 2, allow_cpu: false },
          { id: "hf", engine: "tgi", model: "tgi-model", url: tgi.url, devices: [], slots: 1, allow_cpu: false },
        ],
      },
    ],
    // A node without GPUs: remote engines run elsewhere, so the GPU-only rule does not hold them.
    node: { healthIntervalMs: 50, gpu: new FakeGpuProbe({ unavailable: "no NVIDIA driver (test)" }) },
  });
  const c = cluster;
  await waitForNodes(c, (n) => poolOf(n, "n1", "remote")?.ready === true && poolOf(n, "n1", "hf")?.ready === true);

  for (const model of ["remote-llama", "tgi-model"]) {
    const t = await submitTask(c.url, { model_ref: model, prompt: "over http", max_tokens: 5, seed: 1 });
    expect(t.status).toBe(202);
    const frames = (await collect(`${c.url}${t.json.streams.sse}`)).frames.filter((f) => f.event !== "metrics");
    expect(frames[0]).toMatchObject({ event: "started" });
    expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 5 } });
    expect(frames.filter((f) => f.event === "token").length).toBe(5);
  }
  // The key went to the server as a bearer token and nowhere else.
  expect(vllm.requests.some((r) => r.authorization === "Bearer sk-remote-secret-0123456789")).toBe(true);
  expect(JSON.stringify(await c.control.plane.port.nodes())).not.toContain("sk-remote-secret");
}, 30_000);
