// Tool calls and features in the engine adapters: streamed tool_call pieces gathered into whole
// calls (and bad ones refused), the per-engine refusal of a feature it lacks, the mock's
// documented structured answers, and the fields each adapter sends its server.

import { afterEach, expect, test } from "bun:test";
import { RealClock } from "../../runtime/index.ts";
import { ToolCallAssembler } from "./openai-stream.ts";
import { MockEngine, mockStructured } from "./mock.ts";
import { OpenAiEngine } from "./openai.ts";
import { LlamaCppEngine } from "./llamacpp.ts";
import { TgiEngine } from "./tgi.ts";
import { EngineError, type EngineEvent, type EngineRequest } from "./types.ts";
import { schemaExample } from "./schema-example.ts";

const servers: { stop(force?: boolean): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop(true);
});

const tools = [{ type: "function" as const, function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string", enum: ["Paris"] }, n: { type: "integer", minimum: 2 } }, required: ["city", "n"] } } }];
const chat = (over: Partial<EngineRequest> = {}): EngineRequest => ({ task_id: "t1", prompt: "", messages: [{ role: "user", content: "hi" }], max_tokens: 8, ...over });

test("streamed pieces become whole calls; ids are made when missing; malformed calls are INTERNAL", () => {
  const a = new ToolCallAssembler("engine");
  a.push([{ index: 0, id: "call_a", type: "function", function: { name: "get_weather", arguments: '{"ci' } }]);
  a.push([{ index: 0, function: { arguments: 'ty":"Paris"}' } }, { index: 1, function: { name: "other", arguments: "" } }]);
  expect(a.finish("t1")).toEqual([
    { id: "call_a", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
    { id: "call_t1_1", type: "function", function: { name: "other", arguments: "{}" } },
  ]);
  expect(new ToolCallAssembler("e").finish("x")).toBeUndefined();
  const bad = new ToolCallAssembler("e");
  bad.push([{ index: 0, function: { name: "no spaces allowed", arguments: "{}" } }]);
  expect(() => bad.finish("x")).toThrow(EngineError);
  expect(() => new ToolCallAssembler("e").push([{ index: 1000 }])).toThrow(EngineError);
});

test("the mock: a forced call with arguments from the schema; formats from the schema; penalties refused", async () => {
  expect(schemaExample(tools[0]!.function.parameters)).toEqual({ city: "Paris", n: 2 });
  expect(mockStructured(chat({ tools, tool_choice: "required" }))?.calls).toEqual([{ id: "call_t1_0", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris","n":2}' } }]);
  expect(mockStructured(chat({ tools, tool_choice: "auto" }))).toBeUndefined();
  expect(mockStructured(chat({ response_format: { type: "json_object" } }))).toEqual({ text: "{}" });
  const engine = new MockEngine({ clock: new RealClock() });
  const events: EngineEvent[] = [];
  for await (const ev of engine.submit(chat({ tools, tool_choice: { type: "function", function: { name: "get_weather" } } }), new AbortController().signal)) events.push(ev);
  expect(events.at(-1)).toMatchObject({ type: "end", stop_reason: "stop", tool_calls: [{ function: { name: "get_weather" } }] });
  const refused = (async () => {
    for await (const _ of engine.submit(chat({ logit_bias: { "1": 2 } }), new AbortController().signal));
  })();
  await expect(refused).rejects.toMatchObject({ code: "INVALID_PARAMS", message: expect.stringMatching(/^logit_bias: /) });
});

/** A server that records the body it gets and answers one streamed tool call. */
function recorder(): { url: string; bodies: any[] } {
  const bodies: any[] = [];
  const chunk = (o: object) => `data: ${JSON.stringify(o)}\n\n`;
  const server = Bun.serve({
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method === "GET") return Response.json({ data: [{ id: "m" }] });
      bodies.push({ path, ...((await req.json()) as object) });
      const text =
        chunk({ choices: [{ index: 0, delta: { role: "assistant", tool_calls: [{ index: 0, id: "c1", type: "function", function: { name: "get_weather", arguments: "" } }] }, finish_reason: null }] }) +
        chunk({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":"Paris","n":2}' } }] }, finish_reason: null }] }) +
        chunk({ choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }], usage: { prompt_tokens: 5, completion_tokens: 7 } }) +
        "data: [DONE]\n\n";
      return new Response(text, { headers: { "Content-Type": "text/event-stream" } });
    },
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}`, bodies };
}

test("llama-server, OpenAI-compatible and TGI get tools, format and penalties in their own shapes, and their streamed calls come back", async () => {
  const server = recorder();
  const request = chat({ tools, tool_choice: "required", presence_penalty: 0.5, frequency_penalty: 0.25 });
  const adapters = [new LlamaCppEngine({ baseUrl: server.url }), new OpenAiEngine({ baseUrl: server.url, model: "m" }), new TgiEngine({ baseUrl: server.url })];
  for (const adapter of adapters) {
    const events: EngineEvent[] = [];
    for await (const ev of adapter.submit(request, new AbortController().signal)) events.push(ev);
    expect(events.at(-1)).toEqual({ type: "end", tokens_out: 7, decode_ms: expect.any(Number), stop_reason: "stop", tokens_in: 5, tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris","n":2}' } }] });
  }
  for (const body of server.bodies) expect(body).toMatchObject({ path: "/v1/chat/completions", tools, tool_choice: "required", presence_penalty: 0.5, frequency_penalty: 0.25 });

  server.bodies.length = 0;
  const format = { type: "json_schema" as const, json_schema: { name: "p", schema: { type: "object", properties: { a: { type: "integer" } } } } };
  for (const adapter of adapters) for await (const _ of adapter.submit(chat({ response_format: format, logit_bias: adapter instanceof TgiEngine ? undefined : { "7": -100 } }), new AbortController().signal));
  expect(server.bodies[0]).toMatchObject({ response_format: format, logit_bias: [[7, false]] });
  expect(server.bodies[1]).toMatchObject({ response_format: format, logit_bias: { "7": -100 } });
  expect(server.bodies[2]).toMatchObject({ response_format: { type: "json", value: format.json_schema.schema } });
  const tgi = (async () => {
    for await (const _ of adapters[2]!.submit(chat({ logit_bias: { "7": 1 } }), new AbortController().signal));
  })();
  await expect(tgi).rejects.toMatchObject({ code: "INVALID_PARAMS", message: expect.stringMatching(/^logit_bias: /) });
});
