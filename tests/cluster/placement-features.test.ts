// Placement by features in a mixed fleet: two pools serve the same model, the in-process mock
// (no penalties, no logit_bias) and a vLLM stand-in (every feature). Plain tasks go to the mock
// pool first (it sorts first: pool id "a-mock"); a task asking for logit_bias or a penalty lands
// on the stand-in every time, never on the mock where the engine would refuse it mid-stream.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { FakeGpuProbe } from "../fixtures/nvml/index.ts";
import { startOpenAiStandin, type OpenAiStandin } from "../fixtures/openai-server.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect, submitTask } from "../harness/sse.ts";

let cluster: Cluster;
let vllm: OpenAiStandin;

beforeAll(async () => {
  vllm = startOpenAiStandin({ flavor: "vllm", model: "served" });
  cluster = await startCluster({
    nodes: [
      {
        id: "n1",
        pools: [
          mockPool("a-mock", "shared", { slots: 4 }),
          { id: "b-vllm", engine: "openai", model: "shared", served_model: "served", url: `${vllm.url}/v1`, devices: [], slots: 4, allow_cpu: false },
        ],
      },
    ],
    node: { healthIntervalMs: 50, gpu: new FakeGpuProbe({ unavailable: "no NVIDIA driver (test)" }) },
  });
  await cluster.ready();
}, 30_000);

afterAll(async () => {
  await cluster?.close();
  await vllm?.close();
});

/** Runs a task to its end; the pool its `started` event names, and its last event. */
async function runOn(body: Record<string, unknown>): Promise<{ pool: string; last: string }> {
  const t = await submitTask(cluster.url, { model_ref: "shared", messages: [{ role: "user", content: "hi" }], max_tokens: 2, ...body });
  expect(t.status).toBe(202);
  const frames = (await collect(`${cluster.url}${t.json.streams.sse}`)).frames.filter((f) => f.event !== "metrics");
  return { pool: frames.find((f) => f.event === "started")?.data.pool_id, last: frames.at(-1)!.event };
}

test("a plain task takes the first pool; tasks needing logit_bias or penalties always land on the pool whose engine has them", async () => {
  expect(await runOn({})).toEqual({ pool: "a-mock", last: "end" });
  const before = vllm.requests.filter((r) => r.path === "/v1/chat/completions").length;
  for (const extra of [{ logit_bias: { "7": 2 } }, { presence_penalty: 0.3 }, { frequency_penalty: 0.3 }, { logit_bias: { "1": -100 } }]) {
    expect(await runOn(extra)).toEqual({ pool: "b-vllm", last: "end" });
  }
  const sent = vllm.requests.filter((r) => r.path === "/v1/chat/completions").slice(before).map((r) => r.body);
  expect(sent.map((b) => Object.keys(b).filter((k) => ["logit_bias", "presence_penalty", "frequency_penalty"].includes(k)))).toEqual([["logit_bias"], ["presence_penalty"], ["frequency_penalty"], ["logit_bias"]]);
  // Tools, which both honour, go by the usual order again.
  expect(await runOn({ tools: [{ type: "function", function: { name: "f" } }], tool_choice: "required" })).toEqual({ pool: "a-mock", last: "end" });
});
