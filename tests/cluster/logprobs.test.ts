// Token log probabilities end to end: an OpenAI-compatible engine (the vLLM stand-in, two tokens
// per streamed delta) behind a real control plane and node. /v2 token events carry `lp` with the
// engine's exact numbers, and a subscriber after the end replays the same; /v1 chat and
// completions (streamed and not) render them in OpenAI's shapes, read back by the official
// client; a stream that did not ask carries none and keeps its token-line template; a model whose
// pools cannot report them, and out-of-range values, are refused with a 400 naming the parameter.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { FakeGpuProbe } from "../fixtures/nvml/index.ts";
import { mockPool, poolOf, startCluster, waitForNodes, type Cluster } from "../harness/cluster.ts";
import { collect, submitTask } from "../harness/sse.ts";
import { standinLogprob, startOpenAiStandin, type OpenAiStandin } from "../fixtures/openai-server.ts";

let cluster: Cluster;
let vllm: OpenAiStandin;
const bytes = (t: string) => Array.from(new TextEncoder().encode(t));
const post = (path: string, body: unknown) => fetch(`${cluster.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
/** The `data:` objects of an OpenAI stream, [DONE] left out. */
async function chunks(res: Response): Promise<any[]> {
  const text = await res.text();
  expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
  return text.split("\n\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
}

beforeAll(async () => {
  vllm = startOpenAiStandin({ flavor: "vllm", model: "served", tokensPerDelta: 2 });
  cluster = await startCluster({
    nodes: [
      {
        id: "n1",
        pools: [
          { id: "remote", engine: "openai", model: "lp-model", served_model: "served", url: `${vllm.url}/v1`, devices: [], slots: 2, allow_cpu: false },
          mockPool("plain", "tiny"),
        ],
      },
    ],
    node: { healthIntervalMs: 50, gpu: new FakeGpuProbe({ unavailable: "no NVIDIA driver (test)" }) },
  });
  await waitForNodes(cluster, (n) => poolOf(n, "n1", "remote")?.ready === true && poolOf(n, "n1", "plain")?.ready === true);
}, 60_000);
afterAll(async () => {
  await cluster?.close();
  await vllm?.close();
});

describe("logprobs", () => {
  test("/v2: token events carry the engine's lp; a subscriber after the end replays the same", async () => {
    const t = await submitTask(cluster.url, { model_ref: "lp-model", prompt: "tell me", max_tokens: 6, seed: 3, logprobs: true, top_logprobs: 2 });
    expect(t.status).toBe(202);
    const live = (await collect(`${cluster.url}${t.json.streams.sse}`)).frames.filter((f) => f.event === "token");
    expect(live).toHaveLength(6); // three deltas of two tokens, one event each
    for (const f of live) expect(f.data.lp).toEqual(standinLogprob(f.data.t, 2));
    expect(vllm.requests.at(-1)!.body).toMatchObject({ logprobs: 2 });
    const replay = (await collect(`${cluster.url}${t.json.streams.sse}`)).frames.filter((f) => f.event === "token");
    expect(replay).toEqual(live);
  }, 30_000);

  test("/v2 without logprobs: no lp, the token frames byte for byte as before", async () => {
    const t = await submitTask(cluster.url, { model_ref: "lp-model", prompt: "tell me", max_tokens: 4, seed: 3 });
    const raw = await (await fetch(`${cluster.url}${t.json.streams.sse}`)).text();
    const tokenFrames = raw.split("\n\n").filter((f) => f.startsWith("event: token"));
    expect(tokenFrames).toHaveLength(2); // without logprobs a delta of two tokens stays one event, as before
    tokenFrames.forEach((f, i) => expect(f).toMatch(new RegExp(`^event: token\\ndata: \\{"t":"[^"]+","i":${i}\\}$`)));
    expect(vllm.requests.at(-1)!.body.logprobs).toBeUndefined();
  }, 30_000);

  test("/v1/chat/completions: logprobs.content with the engine's numbers, streamed and not, read by the official client", async () => {
    const messages = [{ role: "user", content: "say words" }];
    const whole: any = await (await post("/v1/chat/completions", { model: "lp-model", messages, max_tokens: 4, seed: 5, logprobs: true, top_logprobs: 2 })).json();
    const content = whole.choices[0].logprobs.content as any[];
    expect(content.map((c) => c.token).join("")).toBe(whole.choices[0].message.content);
    for (const c of content) {
      const want = standinLogprob(c.token, 2);
      expect(c).toEqual({ token: c.token, logprob: want.logprob, bytes: bytes(c.token), top_logprobs: want.top.map((a) => ({ token: a.t, logprob: a.logprob, bytes: bytes(a.t) })) });
    }
    expect(vllm.requests.at(-1)!.body).toMatchObject({ logprobs: true, top_logprobs: 2 });

    const streamed = await chunks(await post("/v1/chat/completions", { model: "lp-model", messages, max_tokens: 4, seed: 5, logprobs: true, top_logprobs: 2, stream: true }));
    const tokenChunks = streamed.filter((c) => c.choices[0]?.delta?.content);
    expect(tokenChunks.flatMap((c) => c.choices[0].logprobs.content)).toEqual(content);

    const client = new OpenAI({ baseURL: `${cluster.url}/v1`, apiKey: "unused" });
    const got = await client.chat.completions.create({ model: "lp-model", messages: [{ role: "user", content: "say words" }], max_tokens: 4, seed: 5, logprobs: true, top_logprobs: 2 });
    expect(got.choices[0]!.logprobs!.content).toEqual(content);
    // Without top_logprobs: each token's own, no alternatives.
    const bare = await client.chat.completions.create({ model: "lp-model", messages: [{ role: "user", content: "say words" }], max_tokens: 2, seed: 5, logprobs: true });
    expect(bare.choices[0]!.logprobs!.content!.map((c) => [c.logprob, c.top_logprobs])).toEqual(bare.choices[0]!.logprobs!.content!.map((c) => [standinLogprob(c.token, 0).logprob, []]));
  }, 30_000);

  test("/v1/completions: legacy logprobs (tokens, token_logprobs, top_logprobs, text_offset), streamed and not", async () => {
    const res: any = await (await post("/v1/completions", { model: "lp-model", prompt: "Once", max_tokens: 4, seed: 2, logprobs: 2, echo: true })).json();
    const lp = res.choices[0].logprobs;
    expect(lp.tokens.join("")).toBe(res.choices[0].text.slice("Once".length));
    expect(lp.token_logprobs).toEqual(lp.tokens.map((t: string) => standinLogprob(t, 2).logprob));
    expect(lp.top_logprobs).toEqual(lp.tokens.map((t: string) => Object.fromEntries(standinLogprob(t, 2).top.map((a) => [a.t, a.logprob]))));
    let at = "Once".length;
    expect(lp.text_offset).toEqual(lp.tokens.map((t: string) => ((at += t.length), at - t.length)));

    const streamed = await chunks(await post("/v1/completions", { model: "lp-model", prompt: "Once", max_tokens: 4, seed: 2, logprobs: 2, echo: true, stream: true }));
    const pieces = streamed.filter((c) => c.choices[0]?.logprobs);
    expect(pieces.flatMap((c) => c.choices[0].logprobs.tokens)).toEqual(lp.tokens);
    expect(pieces.flatMap((c) => c.choices[0].logprobs.token_logprobs)).toEqual(lp.token_logprobs);
    expect(pieces.flatMap((c) => c.choices[0].logprobs.text_offset)).toEqual(lp.text_offset);
  }, 30_000);

  test("/v1 without logprobs: logprobs null, each token line the template's bytes", async () => {
    const streamed = await (await post("/v1/chat/completions", { model: "lp-model", messages: [{ role: "user", content: "x" }], max_tokens: 4, stream: true })).text();
    const lines = streamed.split("\n\n").filter((l) => l.includes('"content":" '));
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^data: \{"id":"chatcmpl-[^"]+","created":\d+,"model":"lp-model","object":"chat.completion.chunk","choices":\[\{"index":0,"delta":\{"content":"[^"]+"\},"logprobs":null,"finish_reason":null\}\]\}$/);
  }, 30_000);

  test("refused with a 400 naming the parameter: an engine that cannot, top_logprobs out of range or without logprobs", async () => {
    const noEngine = await post("/v1/chat/completions", { model: "tiny", messages: [{ role: "user", content: "x" }], logprobs: true });
    expect(noEngine.status).toBe(400);
    expect(((await noEngine.json()) as any).error).toMatchObject({ param: "logprobs", type: "invalid_request_error" });
    const v2 = await submitTask(cluster.url, { model_ref: "tiny", prompt: "x", max_tokens: 2, logprobs: true });
    expect(v2.status).toBe(400);
    expect(v2.json.message).toContain("logprobs");
    for (const body of [{ logprobs: true, top_logprobs: 21 }, { top_logprobs: 2 }]) {
      const res = await post("/v1/chat/completions", { model: "lp-model", messages: [{ role: "user", content: "x" }], ...body });
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error.param).toBe("top_logprobs");
    }
    const legacy = await post("/v1/completions", { model: "lp-model", prompt: "x", logprobs: 21 });
    expect(legacy.status).toBe(400);
    expect(((await legacy.json()) as any).error.param).toBe("logprobs");
  }, 30_000);
});
