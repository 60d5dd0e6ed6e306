// The engines' /v1/embeddings client (embeddings.ts) and the adapters' `embed` over it, against a
// stand-in server: vectors in input order whatever order `data` comes in, usage, and every answer
// that must not be trusted (wrong count, mixed lengths, non-numbers) or is a refusal (501 without
// --embeddings, 404, 503), with the API key kept out of every message.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { LlamaCppEngine } from "./llamacpp.ts";
import { OpenAiEngine } from "./openai.ts";
import { EngineError } from "./types.ts";

const KEY = "sk-embeddings-secret-0123456789";
let server: ReturnType<typeof Bun.serve>;
let reply: (body: any, req: Request) => Response = () => new Response("unset", { status: 500 });
const seen: { auth: string | null; body: any }[] = [];

beforeAll(() => {
  server = Bun.serve({
    port: 0,
    async fetch(req) {
      const body = await req.json().catch(() => undefined);
      seen.push({ auth: req.headers.get("authorization"), body });
      return reply(body, req);
    },
  });
});

afterAll(() => server?.stop(true));

const base = () => `http://127.0.0.1:${server.port}`;
const signal = () => new AbortController().signal;
const fail = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (error) {
    return error as EngineError;
  }
  throw new Error("expected a failure");
};

test("vectors come back in input order with the server's prompt token count", async () => {
  reply = (body) =>
    Response.json({
      data: (body.input as string[]).map((s, index) => ({ index, embedding: [s.length, index] })).reverse(),
      usage: { prompt_tokens: 7, total_tokens: 7 },
    });
  const got = await new LlamaCppEngine({ baseUrl: base() }).embed(["a", "bcd"], signal());
  expect(got).toEqual({ vectors: [[1, 0], [3, 1]], tokens_in: 7 });
  expect(seen.at(-1)!.body).toEqual({ model: "default", input: ["a", "bcd"], encoding_format: "float" });
});

test("an answer that cannot be trusted is INTERNAL", async () => {
  const answers = [
    { data: [{ index: 0, embedding: [1] }] }, // one vector for two inputs
    { data: [{ index: 0, embedding: [1, 2] }, { index: 1, embedding: [1] }] }, // mixed lengths
    { data: [{ index: 0, embedding: [1, "x"] }, { index: 1, embedding: [1, 2] }] }, // not a number
    { data: [{ index: 0, embedding: [1] }, { index: 0, embedding: [2] }] }, // index twice
    "not json",
  ];
  for (const a of answers) {
    reply = () => (typeof a === "string" ? new Response(a) : Response.json(a));
    const e = await fail(new LlamaCppEngine({ baseUrl: base() }).embed(["a", "b"], signal()));
    expect(e).toBeInstanceOf(EngineError);
    expect(e.code).toBe("INTERNAL");
  }
});

test("refusals: 501/404/400 are INVALID_PARAMS, 503 is POOL_UNAVAILABLE; the API key never shows", async () => {
  const engine = new OpenAiEngine({ baseUrl: `${base()}/v1`, apiKey: KEY, model: "served" });
  for (const [status, code] of [[501, "INVALID_PARAMS"], [404, "INVALID_PARAMS"], [400, "INVALID_PARAMS"], [503, "POOL_UNAVAILABLE"]] as const) {
    reply = () => Response.json({ error: { message: `no embeddings for key ${KEY}` } }, { status });
    const e = await fail(engine.embed(["a"], signal()));
    expect(e.code).toBe(code);
    expect(e.message).toContain(`HTTP ${status}`);
    expect(e.message).not.toContain(KEY);
  }
  expect(seen.at(-1)).toEqual({ auth: `Bearer ${KEY}`, body: { model: "served", input: ["a"], encoding_format: "float" } });
});

test("a server that cannot be reached is POOL_UNAVAILABLE", async () => {
  const e = await fail(new LlamaCppEngine({ baseUrl: "http://127.0.0.1:9" }).embed(["a"], signal()));
  expect(e.code).toBe("POOL_UNAVAILABLE");
});
