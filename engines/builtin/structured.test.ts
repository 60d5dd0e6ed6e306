// The built-in engine's tools and structured output on the tiny random model: the grammar
// guarantees the shape, so the answer parses and validates against the schema; a forced tool call
// comes back as `tool_calls` (streamed and not) with finish_reason `tool_calls`; penalties and
// logit_bias are taken; a schema the grammar cannot take is a 400.

import { afterAll, beforeAll, expect, test } from "bun:test";
import Ajv from "ajv";
import { ensureTinyModel } from "../tiny-model/tiny-gguf.ts";
import { parseBuiltinEngineFlags } from "./flags.ts";
import { startBuiltinEngine, type BuiltinEngineHandle } from "./server.ts";
import { post, sseEvents } from "../../tests/fixtures/builtin-client.ts";

let engine: BuiltinEngineHandle;
const ajv = new Ajv();

beforeAll(async () => {
  engine = startBuiltinEngine(parseBuiltinEngineFlags(["--model", ensureTinyModel().path, "--port", "0", "--cpu", "--ctx", "4096", "--alias", "tiny"]), { log: () => {} });
  await engine.ready;
});

afterAll(async () => {
  await engine?.stop();
});

const messages = [{ role: "user", content: "What is the weather in Paris?" }];
export const WEATHER = {
  type: "object",
  properties: { city: { type: "string", enum: ["Paris", "Rome"] }, unit: { type: "string", enum: ["c", "f"] } },
  required: ["city", "unit"],
  additionalProperties: false,
};
const tools = [
  { type: "function", function: { name: "get_weather", description: "Weather of a city", parameters: WEATHER } },
  { type: "function", function: { name: "get_time", parameters: { type: "object", properties: { zone: { type: "string", enum: ["utc"] } }, required: ["zone"] } } },
];
const PERSON = { type: "object", properties: { name: { type: "string", enum: ["ada", "bob"] }, age: { type: "integer", enum: [1, 2, 3] }, ok: { type: "boolean" } }, required: ["name", "age", "ok"], additionalProperties: false };

test("json_schema: the content parses and validates against the schema", async () => {
  const res = await post(engine.url, "/v1/chat/completions", { messages, max_tokens: 64, response_format: { type: "json_schema", json_schema: { name: "person", schema: PERSON, strict: true } } });
  expect(res.status).toBe(200);
  const content = (res.body as any).choices[0].message.content;
  expect(ajv.validate(PERSON, JSON.parse(content))).toBe(true);
});

test("json_object: the content is a JSON object", async () => {
  const res = await post(engine.url, "/v1/chat/completions", { messages, max_tokens: 48, response_format: { type: "json_object" }, logit_bias: { "5": -100 }, presence_penalty: 0.5, frequency_penalty: 0.5 });
  expect(res.status).toBe(200);
  const body = res.body as any;
  if (body.choices[0].finish_reason === "stop") expect(typeof JSON.parse(body.choices[0].message.content)).toBe("object");
  else expect(body.choices[0].message.content.trimStart().startsWith("{")).toBe(true);
});

test("tool_choice naming a function: one call of it, arguments valid against its schema", async () => {
  const res = await post(engine.url, "/v1/chat/completions", { messages, max_tokens: 200, tools, tool_choice: { type: "function", function: { name: "get_weather" } } });
  expect(res.status).toBe(200);
  const choice = (res.body as any).choices[0];
  expect(choice.finish_reason).toBe("tool_calls");
  expect(choice.message.content).toBeNull();
  expect(choice.message.tool_calls).toHaveLength(1);
  const call = choice.message.tool_calls[0];
  expect(call).toMatchObject({ index: 0, type: "function", function: { name: "get_weather" } });
  expect(call.id).toMatch(/^call_/);
  expect(ajv.validate(WEATHER, JSON.parse(call.function.arguments))).toBe(true);
});

test("tool_choice required, streamed: a tool_calls delta, then finish_reason tool_calls", async () => {
  const res = await fetch(`${engine.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ messages, max_tokens: 200, tools, tool_choice: "required", stream: true }) });
  const events = (await sseEvents(res)) as any[];
  expect(events.at(-1)).toBe("[DONE]");
  const deltas = events.slice(0, -1).map((c) => c.choices[0]);
  const calls = deltas.filter((d) => d.delta.tool_calls).flatMap((d) => d.delta.tool_calls);
  expect(calls).toHaveLength(1);
  expect(["get_weather", "get_time"]).toContain(calls[0].function.name);
  JSON.parse(calls[0].function.arguments);
  expect(deltas.at(-1).finish_reason).toBe("tool_calls");
  expect(deltas.some((d) => d.delta.content)).toBe(false);
});

test("history with an assistant tool call and its tool result renders and runs", async () => {
  const history = [
    ...messages,
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris","unit":"c"}' } }] },
    { role: "tool", tool_call_id: "call_1", content: "21 degrees" },
  ];
  const res = await post(engine.url, "/v1/chat/completions", { messages: history, max_tokens: 4, tools });
  expect(res.status).toBe(200);
  expect((res.body as any).choices[0].finish_reason).toMatch(/^(length|stop|tool_calls)$/);
});

test("/completion with json_schema: constrained as for chat", async () => {
  const res = await post(engine.url, "/completion", { prompt: "Person:", n_predict: 64, json_schema: PERSON });
  expect(res.status).toBe(200);
  expect(ajv.validate(PERSON, JSON.parse((res.body as any).content))).toBe(true);
});

test("a tool_choice naming no tool is a 400", async () => {
  const res = await post(engine.url, "/v1/chat/completions", { messages, tools, tool_choice: { type: "function", function: { name: "nope" } } });
  expect(res.status).toBe(400);
});
