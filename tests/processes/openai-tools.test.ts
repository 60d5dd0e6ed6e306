// Tools and structured output through the client libraries, unmodified, against real processes
// (`bun run control` + `bun run node` with the built-in engine on the tiny random model). The model
// never chooses a tool on its own, so the tests force calls (tool_choice required or named): the
// grammar guarantees the shape, and each call's arguments (and each structured answer) must
// validate against its JSON Schema. Parameters no engine here honours are 400s naming them.

import { expect, test } from "bun:test";
import Ajv from "ajv";
import OpenAI from "openai";
import { generateObject, generateText, jsonSchema, tool } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { ChatOpenAI } from "@langchain/openai";
import { TINY_MODEL, useBuiltinPair } from "../harness/builtin-pair.ts";

const MODEL = TINY_MODEL;
const served = useBuiltinPair();
const ajv = new Ajv();

const WEATHER = {
  type: "object",
  properties: { city: { type: "string", enum: ["Paris", "Rome"] }, unit: { type: "string", enum: ["c", "f"] } },
  required: ["city", "unit"],
  additionalProperties: false,
} as const;
const PERSON = {
  type: "object",
  properties: { name: { type: "string", enum: ["ada", "bob"] }, age: { type: "integer", enum: [1, 2, 3] } },
  required: ["name", "age"],
  additionalProperties: false,
} as const;
const tools = [{ type: "function" as const, function: { name: "get_weather", description: "Weather of a city", parameters: WEATHER } }];
const messages = [{ role: "user" as const, content: "Weather in Paris?" }];
const openai = () => new OpenAI({ baseURL: `${served.base}/v1`, apiKey: "unused", maxRetries: 0 });

test("openai chat.completions: a forced tool call (not streamed and streamed), then the tool's answer in the history", async () => {
  const client = openai();
  const named = { type: "function" as const, function: { name: "get_weather" } };
  const r = await client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: named, max_tokens: 200 });
  expect(r.choices[0]!.finish_reason).toBe("tool_calls");
  const call = r.choices[0]!.message.tool_calls![0]! as { id: string; function: { name: string; arguments: string } };
  expect(call.function.name).toBe("get_weather");
  expect(ajv.validate(WEATHER, JSON.parse(call.function.arguments))).toBe(true);
  expect(r.usage!.completion_tokens).toBeGreaterThan(0);

  const stream = await client.chat.completions.create({ model: MODEL, messages, tools, tool_choice: "required", max_tokens: 200, stream: true });
  const pieces: { index: number; id?: string; function?: { name?: string; arguments?: string } }[] = [];
  let finish: string | null = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      pieces.push(...((c.delta.tool_calls ?? []) as typeof pieces));
      finish = c.finish_reason ?? finish;
    }
  }
  expect(finish).toBe("tool_calls");
  expect(pieces[0]!.function!.name).toBe("get_weather");
  expect(ajv.validate(WEATHER, JSON.parse(pieces.map((p) => p.function?.arguments ?? "").join("")))).toBe(true);

  const next = await client.chat.completions.create({
    model: MODEL,
    messages: [...messages, r.choices[0]!.message, { role: "tool", tool_call_id: call.id, content: "21 C" }],
    tools,
    tool_choice: "none",
    max_tokens: 4,
  });
  expect(next.choices[0]!.message.tool_calls ?? []).toEqual([]);
  expect(next.usage!.completion_tokens).toBeGreaterThan(0);
}, 60_000);

test("openai chat.completions: response_format json_schema and json_object (streamed) parse and validate", async () => {
  const client = openai();
  const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 64, response_format: { type: "json_schema", json_schema: { name: "person", schema: PERSON, strict: true } } });
  expect(ajv.validate(PERSON, JSON.parse(r.choices[0]!.message.content!))).toBe(true);
  const stream = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 64, stream: true, response_format: { type: "json_schema", json_schema: { name: "person", schema: PERSON } } });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  expect(ajv.validate(PERSON, JSON.parse(text))).toBe(true);
}, 60_000);

test("openai responses.create with a function tool: a function_call output item; text.format json_schema", async () => {
  const client = openai();
  const r = await client.responses.create({
    model: MODEL,
    input: "Weather in Paris?",
    tools: [{ type: "function", name: "get_weather", parameters: WEATHER, strict: true }],
    tool_choice: "required",
    max_output_tokens: 200,
  });
  const call = r.output.find((o) => o.type === "function_call") as { name: string; arguments: string; call_id: string } | undefined;
  expect(call?.name).toBe("get_weather");
  expect(ajv.validate(WEATHER, JSON.parse(call!.arguments))).toBe(true);

  const s = client.responses.stream({ model: MODEL, input: "Weather?", tools: [{ type: "function", name: "get_weather", parameters: WEATHER, strict: true }], tool_choice: "required", max_output_tokens: 200 });
  let args = "";
  for await (const ev of s) if (ev.type === "response.function_call_arguments.delta") args += ev.delta;
  expect(ajv.validate(WEATHER, JSON.parse(args))).toBe(true);

  const j = await client.responses.create({ model: MODEL, input: "A person", max_output_tokens: 64, text: { format: { type: "json_schema", name: "person", schema: PERSON, strict: true } } });
  expect(ajv.validate(PERSON, JSON.parse(j.output_text))).toBe(true);
}, 60_000);

test("LangChain: bindTools with a forced call, withStructuredOutput (json schema)", async () => {
  const chat = new ChatOpenAI({ model: MODEL, apiKey: "unused", maxRetries: 0, maxTokens: 200, configuration: { baseURL: `${served.base}/v1` } });
  const bound = chat.bindTools([{ type: "function", function: { name: "get_weather", description: "Weather of a city", parameters: WEATHER } }], { tool_choice: "get_weather" });
  const msg = await bound.invoke("Weather in Paris?");
  expect(msg.tool_calls).toHaveLength(1);
  expect(msg.tool_calls![0]!.name).toBe("get_weather");
  expect(ajv.validate(WEATHER, msg.tool_calls![0]!.args)).toBe(true);

  const structured = chat.withStructuredOutput({ ...PERSON, title: "person" }, { method: "jsonSchema" });
  const person = await structured.invoke("A person, please");
  expect(ajv.validate(PERSON, person)).toBe(true);
}, 60_000);

test("Vercel AI SDK: generateObject (json schema) and generateText with tools and toolChoice required", async () => {
  const compatible = createOpenAICompatible({ name: "llorch", baseURL: `${served.base}/v1`, supportsStructuredOutputs: true });
  const obj = await generateObject({ model: compatible(MODEL), schema: jsonSchema<{ name: string; age: number }>(PERSON), prompt: "A person", maxOutputTokens: 64, maxRetries: 0 });
  expect(ajv.validate(PERSON, obj.object)).toBe(true);

  const weather = tool({ description: "Weather of a city", inputSchema: jsonSchema<{ city: string; unit: string }>(WEATHER) });
  for (const model of [compatible(MODEL), createOpenAI({ baseURL: `${served.base}/v1`, apiKey: "unused" })(MODEL)]) {
    const r = await generateText({ model, prompt: "Weather in Paris?", tools: { get_weather: weather }, toolChoice: "required", maxOutputTokens: 200, maxRetries: 0 });
    expect(r.toolCalls).toHaveLength(1);
    expect(r.toolCalls[0]!.toolName).toBe("get_weather");
    expect(ajv.validate(WEATHER, r.toolCalls[0]!.input)).toBe(true);
    expect(r.finishReason).toBe("tool-calls");
  }
}, 60_000);

test("what no engine here honours is a 400 naming the parameter", async () => {
  const post = (body: object) => fetch(`${served.base}/v1/chat/completions`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ model: MODEL, messages, max_tokens: 4, ...body }) });
  for (const [body, param] of [
    [{ top_logprobs: 2 }, "top_logprobs"],
    [{ n: 9 }, "n"],
    [{ tools, tool_choice: { type: "function", function: { name: "nope" } } }, "tool_choice"],
  ] as const) {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ type: "invalid_request_error", param });
  }
  // What the built-in engine honours runs: penalties and logit_bias.
  const ok = await post({ presence_penalty: 0.5, frequency_penalty: 0.5, logit_bias: { "3": -100 }, seed: 1, stop: ["\n\n"] });
  expect(ok.status).toBe(200);
}, 60_000);
