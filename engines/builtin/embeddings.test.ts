// The built-in engine's POST /v1/embeddings on the tiny model (real llama.cpp, CPU): OpenAI's
// shape, one vector per input in order, deterministic, usage counted, and the refusals.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { ensureTinyModel } from "../tiny-model/tiny-gguf.ts";
import { parseBuiltinEngineFlags } from "./main.ts";
import { startBuiltinEngine, type BuiltinEngineHandle } from "./server.ts";

let engine: BuiltinEngineHandle;
const logs: string[] = [];

beforeAll(async () => {
  const flags = parseBuiltinEngineFlags(["--model", ensureTinyModel().path, "--port", "0", "--cpu", "--parallel", "1", "--ctx", "256", "--alias", "tiny"]);
  engine = startBuiltinEngine(flags, { log: (line) => logs.push(line) });
  await engine.ready;
});

afterAll(async () => {
  await engine?.stop();
});

const embed = async (body: unknown) => {
  const res = await fetch(`${engine.url}/v1/embeddings`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
};

test("a string and a list of strings: one finite vector per input, in order, the same every time", async () => {
  const one = await embed({ model: "tiny", input: "hello world" });
  expect(one.status).toBe(200);
  expect(one.body.object).toBe("list");
  expect(one.body.model).toBe("tiny");
  expect(one.body.data).toHaveLength(1);
  const v = one.body.data[0].embedding as number[];
  expect(v.length).toBeGreaterThan(0);
  expect(v.every((x) => Number.isFinite(x))).toBe(true);
  expect(one.body.usage.prompt_tokens).toBeGreaterThan(0);
  expect(one.body.usage.total_tokens).toBe(one.body.usage.prompt_tokens);

  const many = await embed({ model: "tiny", input: ["a b c", "hello world"] });
  expect(many.status).toBe(200);
  expect(many.body.data.map((d: any) => d.index)).toEqual([0, 1]);
  expect(many.body.data[1].embedding).toEqual(v);
  expect(many.body.data[0].embedding).not.toEqual(v);
  expect(many.body.data[0].embedding).toHaveLength(v.length);
});

test("token arrays, empty and over-long inputs, and base64 are refused with 400", async () => {
  for (const input of [[1, 2, 3], [], ""]) {
    const r = await embed({ model: "tiny", input });
    expect(r.status).toBe(400);
    expect(r.body.error.type).toBe("invalid_request_error");
  }
  const long = await embed({ model: "tiny", input: "word ".repeat(400) });
  expect(long.status).toBe(400);
  expect(long.body.error.message).toContain("too large");
  expect((await embed({ model: "tiny", input: "x", encoding_format: "base64" })).status).toBe(400);
});
