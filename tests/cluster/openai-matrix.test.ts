// The OpenAI surface over every engine kind a pool can run without a GPU, through a real control
// plane and node: the in-process mock (`mock`), the mock llama-server program (`mock-server`, over
// the llama.cpp adapter), the vLLM stand-in (`openai`) and the TGI stand-in (`tgi`). For each: chat,
// tools (forced by `required` and by name, streamed and not), JSON (json_object, json_schema), and
// the 400 naming the parameter for what the engine kind does not honour (contract ENGINE_FEATURES).
// The engines' structured answers are deterministic; the test validates them against their
// schemas with ajv, as a client would.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Ajv from "ajv";
import OpenAI, { BadRequestError } from "openai";
import { FakeGpuProbe } from "../fixtures/nvml/index.ts";
import { startOpenAiStandin, type OpenAiStandin } from "../fixtures/openai-server.ts";
import { startTgiStandin, type TgiStandin } from "../fixtures/tgi-server.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";

let cluster: Cluster;
let openai: OpenAI;
let vllm: OpenAiStandin;
let tgi: TgiStandin;

beforeAll(async () => {
  vllm = startOpenAiStandin({ flavor: "vllm", model: "served" });
  tgi = startTgiStandin({ modelId: "tgi-model" });
  cluster = await startCluster({
    nodes: [
      {
        id: "n1",
        pools: [
          mockPool("mock", "m-mock"),
          { id: "server", engine: "mock-server", model: "m-server", devices: [], slots: 1, allow_cpu: true },
          { id: "vllm", engine: "openai", model: "m-openai", served_model: "served", url: `${vllm.url}/v1`, devices: [], slots: 2, allow_cpu: false },
          { id: "tgi", engine: "tgi", model: "m-tgi", url: tgi.url, devices: [], slots: 1, allow_cpu: false },
        ],
      },
    ],
    node: { healthIntervalMs: 50, gpu: new FakeGpuProbe({ unavailable: "no NVIDIA driver (test)" }) },
  });
  await cluster.ready();
  openai = new OpenAI({ baseURL: `${cluster.url}/v1`, apiKey: "unused", maxRetries: 0 });
}, 30_000);

afterAll(async () => {
  await cluster?.close();
  await vllm?.close();
  await tgi?.close();
});

const ajv = new Ajv();
const weather = {
  type: "object",
  properties: { city: { type: "string", enum: ["Paris", "Oslo"] }, days: { type: "integer", minimum: 1 } },
  required: ["city", "days"],
  additionalProperties: false,
};
const tools = [
  { type: "function" as const, function: { name: "get_time", parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] } } },
  { type: "function" as const, function: { name: "get_weather", parameters: weather } },
];
const messages = [{ role: "user" as const, content: "what is the weather in Paris?" }];
const person = { type: "object", properties: { name: { type: "string", minLength: 2 }, age: { type: "integer", minimum: 0 }, tags: { type: "array", items: { type: "string" }, minItems: 1 } }, required: ["name", "age", "tags"] };

/** Which features each kind refuses: [body, param]. */
const REFUSED: Record<string, [Record<string, unknown>, string][]> = {
  "m-mock": [[{ logit_bias: { "5": 1 } }, "logit_bias"], [{ presence_penalty: 0.5 }, "presence_penalty"]],
  "m-server": [[{ logit_bias: { "5": 1 } }, "logit_bias"], [{ frequency_penalty: 0.5 }, "frequency_penalty"]],
  "m-tgi": [[{ logit_bias: { "5": 1 } }, "logit_bias"]],
  "m-openai": [],
};

for (const model of ["m-mock", "m-server", "m-openai", "m-tgi"]) {
  describe(`engine kind of ${model}`, () => {
    test("chat, streamed and not", async () => {
      const whole = await openai.chat.completions.create({ model, messages, max_tokens: 4, seed: 3 });
      expect(whole.choices[0]!.message.content!.length).toBeGreaterThan(0);
      let text = "";
      for await (const chunk of await openai.chat.completions.create({ model, messages, max_tokens: 4, seed: 3, stream: true })) text += chunk.choices[0]?.delta.content ?? "";
      expect(text).toBe(whole.choices[0]!.message.content!);
    });

    test("tools: required and named calls validate against the function's schema, streamed and not", async () => {
      const named = await openai.chat.completions.create({ model, messages, max_tokens: 64, tools, tool_choice: { type: "function", function: { name: "get_weather" } } });
      expect(named.choices[0]!.finish_reason).toBe("tool_calls");
      const call = named.choices[0]!.message.tool_calls![0]! as { function: { name: string; arguments: string } };
      expect(call.function.name).toBe("get_weather");
      expect(ajv.validate(weather, JSON.parse(call.function.arguments))).toBe(true);

      const calls = new Map<number, { name: string; args: string }>();
      let finish: string | null = null;
      for await (const chunk of await openai.chat.completions.create({ model, messages, max_tokens: 64, tools, tool_choice: "required", stream: true })) {
        for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
          const c = calls.get(d.index) ?? { name: "", args: "" };
          c.name += d.function?.name ?? "";
          c.args += d.function?.arguments ?? "";
          calls.set(d.index, c);
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(finish).toBe("tool_calls");
      expect([...calls.values()].map((c) => [c.name, JSON.parse(c.args)])).toEqual([["get_time", { zone: "x" }]]);
    });

    test("JSON: json_schema and json_object answers parse and validate", async () => {
      const got = await openai.chat.completions.create({ model, messages, max_tokens: 64, response_format: { type: "json_schema", json_schema: { name: "person", schema: person } } });
      expect(ajv.validate(person, JSON.parse(got.choices[0]!.message.content!))).toBe(true);
      const obj = await openai.chat.completions.create({ model, messages, max_tokens: 64, response_format: { type: "json_object" } });
      expect(typeof JSON.parse(obj.choices[0]!.message.content!)).toBe("object");
    });

    test("what the engine kind does not honour is a 400 naming the parameter; what it does runs", async () => {
      for (const [extra, param] of REFUSED[model]!) {
        const err = await openai.chat.completions.create({ model, messages, max_tokens: 2, ...extra }).catch((e) => e);
        expect(err, param).toBeInstanceOf(BadRequestError);
        expect(err, param).toMatchObject({ status: 400, param });
        expect(err.message).toContain("not supported by engine");
      }
      if (REFUSED[model]!.length === 0) {
        const ok = await openai.chat.completions.create({ model, messages, max_tokens: 2, logit_bias: { "5": 1 }, presence_penalty: 0.5 });
        expect(ok.choices).toHaveLength(1);
      }
    });
  });
}
