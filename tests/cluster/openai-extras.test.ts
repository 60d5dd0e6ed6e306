// GET /v1/models/{id}, POST /v1/embeddings and POST /v1/responses through the official `openai`
// client, unmodified, against an in-process cluster of mock engines: the mock's vectors are
// deterministic (engines/mock-server/embedding.ts), so the test checks them exactly, in order,
// across the node-link batches of 16; and its words follow the seed, so responses stream the same
// text they return whole. Errors come in OpenAI's shape, naming the parameter.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI, { BadRequestError, NotFoundError } from "openai";
import { mockEmbedding } from "../../engines/mock-server/embedding.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";

let cluster: Cluster;
let openai: OpenAI;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: [
      { id: "n1", pools: [mockPool("p0", "tiny", { slots: 2 }), mockPool("chat-only", "chatter", { workloads: ["completion"] })] },
      { id: "n2", pools: [mockPool("emb", "embedder", { workloads: ["embedding"] })] },
    ],
  });
  await cluster.ready();
  openai = new OpenAI({ baseURL: `${cluster.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
  await cluster?.close();
});

const close = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-6);
};

async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

describe("GET /v1/models/{id}", () => {
  test("a served model in OpenAI's shape; an unknown one is 404 model_not_found", async () => {
    const m = await openai.models.retrieve("tiny");
    expect(m).toMatchObject({ id: "tiny", object: "model", owned_by: "llama-orch" });
    expect(typeof m.created).toBe("number");
    const e = await rejection(openai.models.retrieve("no-such-model"));
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e.code).toBe("model_not_found");
  });
});

describe("POST /v1/embeddings", () => {
  test("the client's default (base64) and float: the mock's vectors, in order, across batches", async () => {
    const inputs = Array.from({ length: 37 }, (_, i) => `input number ${i}`);
    const got = await openai.embeddings.create({ model: "tiny", input: inputs });
    expect(got.object).toBe("list");
    expect(got.model).toBe("tiny");
    expect(got.data.map((d) => d.index)).toEqual(inputs.map((_, i) => i));
    got.data.forEach((d, i) => close(d.embedding, mockEmbedding(inputs[i]!)));
    // words + 1 per input
    expect(got.usage).toEqual({ prompt_tokens: 37 * 4, total_tokens: 37 * 4 });

    const float = await openai.embeddings.create({ model: "embedder", input: "hello world", encoding_format: "float" });
    expect(float.data).toHaveLength(1);
    close(float.data[0]!.embedding, mockEmbedding("hello world"));
    expect(float.usage.prompt_tokens).toBe(3);
  });

  test("token arrays, dimensions, empty input: 400 naming the parameter", async () => {
    const tokens = await rejection(openai.embeddings.create({ model: "tiny", input: [1, 2, 3] }));
    expect(tokens).toBeInstanceOf(BadRequestError);
    expect(tokens.param).toBe("input");
    const dims = await rejection(openai.embeddings.create({ model: "tiny", input: "x", dimensions: 8 }));
    expect(dims).toBeInstanceOf(BadRequestError);
    expect(dims.param).toBe("dimensions");
    const empty = await rejection(openai.embeddings.create({ model: "tiny", input: "" }));
    expect(empty).toBeInstanceOf(BadRequestError);
    expect(empty.param).toBe("input");
  });

  test("a model whose pools serve no embeddings is 400 naming the model; an unknown model is 404", async () => {
    const e = await rejection(openai.embeddings.create({ model: "chatter", input: "x" }));
    expect(e).toBeInstanceOf(BadRequestError);
    expect(e.param).toBe("model");
    expect(e.message).toContain("serves no embeddings");
    const unknown = await rejection(openai.embeddings.create({ model: "nobody", input: "x" }));
    expect(unknown).toBeInstanceOf(NotFoundError);
  });

  test("an embedding-only pool takes no completion task (the model is listed, so 503 model_not_available)", async () => {
    const res = await fetch(`${cluster.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "embedder", messages: [{ role: "user", content: "hi" }], max_tokens: 2 }),
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.code).toBe("model_not_available");
  });
});

describe("POST /v1/responses", () => {
  test("not streamed: a response object with the text, usage and status", async () => {
    const r = await openai.responses.create({ model: "tiny", input: "Say something.", instructions: "Be terse.", max_output_tokens: 5, temperature: 0 });
    expect(r.object).toBe("response");
    expect(r.id).toMatch(/^resp_/);
    expect(r.status).toBe("incomplete");
    expect(r.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(r.output).toHaveLength(1);
    const msg = r.output[0] as any;
    expect(msg).toMatchObject({ type: "message", role: "assistant" });
    expect(msg.content[0]).toMatchObject({ type: "output_text", annotations: [] });
    expect(r.output_text.split(" ")).toHaveLength(5);
    expect(r.usage!.output_tokens).toBe(5);
    expect(r.usage!.input_tokens).toBeGreaterThan(0);
    expect(r.usage!.total_tokens).toBe(r.usage!.input_tokens + 5);
  });

  test("streamed: every event in order with rising sequence numbers, the same text as not streamed", async () => {
    const input = [{ role: "user" as const, content: [{ type: "input_text" as const, text: "Say something." }] }];
    const whole = await openai.responses.create({ model: "tiny", input, max_output_tokens: 4 });
    const stream = await openai.responses.create({ model: "tiny", input, max_output_tokens: 4, stream: true });
    const events: any[] = [];
    for await (const e of stream) events.push(e);
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    expect(types.filter((t) => t === "response.output_text.delta")).toHaveLength(4);
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const text = events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
    expect(text).toBe(whole.output_text);
    expect(events.at(-1).response.output[0].content[0].text).toBe(text);
    expect(events.at(-1).response.usage.output_tokens).toBe(4);
  });

  test("function tools: a forced call is a function_call item (mock: arguments from the schema); it goes back as input items", async () => {
    const tools = [{ type: "function" as const, name: "f", parameters: { type: "object", properties: { a: { type: "integer", minimum: 3 } }, required: ["a"] }, strict: true }];
    const r = await openai.responses.create({ model: "tiny", input: "hi", tools, tool_choice: "required" });
    expect(r.output).toEqual([{ id: expect.stringMatching(/^fc_call_/), type: "function_call", status: "completed", call_id: expect.stringMatching(/^call_/), name: "f", arguments: '{"a":3}' }]);
    const call = r.output[0] as { call_id: string; name: string; arguments: string };
    const next = await openai.responses.create({
      model: "tiny",
      input: [{ role: "user", content: "hi" }, { type: "function_call", call_id: call.call_id, name: "f", arguments: call.arguments }, { type: "function_call_output", call_id: call.call_id, output: "7" }],
      tools,
      max_output_tokens: 3,
    });
    expect(next.output_text.length).toBeGreaterThan(0);
  });

  test("unsupported features are refused with 400 naming the parameter", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ tools: [{ type: "web_search" }] }, "tools.0.type"],
      [{ previous_response_id: "resp_x" }, "previous_response_id"],
      [{ store: true }, "store"],
      [{ reasoning: { effort: "low" } }, "reasoning"],
      [{ text: { format: { type: "grammar" } } }, "text.format"],
      [{ input: [{ role: "user", content: [{ type: "input_image", image_url: "http://x" }] }] }, "input.0.content.0"],
      [{ input: [{ type: "reasoning", summary: [] }] }, "input.0.type"],
    ];
    for (const [extra, param] of cases) {
      const e = await rejection(openai.responses.create({ model: "tiny", input: "hi", ...extra } as any));
      expect(e).toBeInstanceOf(BadRequestError);
      expect(e.param).toBe(param);
    }
  });
});
