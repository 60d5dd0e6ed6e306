// Chat end to end over real processes: `bun run control` and `bun run node --model PATH
// --allow-cpu` on a tiny GGUF with Llama 3's chat template. A chat through /v1/chat/completions
// and a native /v2 task with `messages` both reach the built-in engine as messages and are
// rendered with the model's own template (the engine's LLORCH_ENGINE_PROMPT_FILE shows the text
// it evaluated); the pool reports the engine's context, so a task asking for more is a 400.

import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TINY_CHAT_FAMILIES } from "../../engines/tiny-model/chat-templates.ts";
import { writeTinyModel } from "../../engines/tiny-model/tiny-gguf.ts";
import { spawnService, type Service } from "../harness/process.ts";
import { collect, getJson, submitTask } from "../harness/sse.ts";

const dir = mkdtempSync(join(tmpdir(), "llorch-chat-e2e-"));
const services: Service[] = [];
afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.stop("SIGTERM");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LLAMA3_HI =
  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
  "<|start_header_id|>assistant<|end_header_id|>\n\n";

test("chat tasks on /v1 and /v2 are rendered by the engine with the model's template; ctx beyond the engine's context is a 400", async () => {
  const model = writeTinyModel(join(dir, "llama3-chat.gguf"), TINY_CHAT_FAMILIES.llama3).path; // 8192-token context
  const promptFile = join(dir, "prompts.jsonl");
  const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"]);
  services.push(control);
  const base = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
  const node = spawnService(["actors/node/main.ts", "--control", base, "--model", model, "--allow-cpu", "--addr", "127.0.0.1:0", "--node-id", "n1"], {
    NVML_LIBRARY_PATH: "/nonexistent/libnvidia-ml.so.1",
    LLORCH_ENGINE_PROMPT_FILE: promptFile,
  });
  services.push(node);
  await control.waitFor((l) => l.msg === "Pool default on node n1 is ready", "pool ready");
  const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }];
  const evaluated = () => readFileSync(promptFile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { tokens: number; text: string });

  // The OpenAI API: messages pass through; prompt_tokens is the engine's count of the rendered chat.
  const chat = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "llama3-chat", messages, max_tokens: 3 }),
  });
  expect(chat.status).toBe(200);
  const usage = ((await chat.json()) as any).usage;
  expect(evaluated()).toEqual([{ tokens: usage.prompt_tokens, text: LLAMA3_HI }]);
  expect(usage.completion_tokens).toBe(3);

  // A native task with messages, streamed over SSE: the same rendering.
  const t = await submitTask(base, { model_ref: "llama3-chat", messages, max_tokens: 3 });
  expect(t.status).toBe(202);
  const frames = (await collect(`${base}${t.json.streams.sse}`)).frames.filter((f) => f.event !== "metrics");
  expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 3, tokens_in: usage.prompt_tokens } });
  expect(evaluated().map((p) => p.text)).toEqual([LLAMA3_HI, LLAMA3_HI]);

  // Both a prompt and messages: refused.
  const both = await submitTask(base, { model_ref: "llama3-chat", prompt: "x", messages, max_tokens: 3 });
  expect(both.status).toBe(400);
  expect(both.json).toMatchObject({ code: "INVALID_PARAMS" });

  // The pools file sets no ctx: the pool reports the engine's (8192), and admission holds to it.
  const nodes = await getJson(`${base}/v2/nodes`);
  expect(JSON.stringify(nodes)).toContain('"ctx_max":8192');
  const tooLong = await submitTask(base, { model_ref: "llama3-chat", prompt: "x", ctx: 10_000_000, max_tokens: 3 });
  expect(tooLong.status).toBe(400);
  expect(tooLong.json).toMatchObject({ code: "INVALID_PARAMS" });
  expect(tooLong.json.message).toContain("ctx_max 8192");
  const fits = await submitTask(base, { model_ref: "llama3-chat", prompt: "x", ctx: 8192, max_tokens: 1 });
  expect(fits.status).toBe(202);
}, 90_000);
