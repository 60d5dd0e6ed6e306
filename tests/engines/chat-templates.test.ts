// Chat tasks on the built-in engine use each model's own chat template. Tiny GGUFs carry the
// `tokenizer.chat_template` (and BOS/EOS/control tokens) of Llama 3, Mistral, Gemma and ChatML
// models, or none; a chat task goes the node's way (the llama.cpp adapter → the engine's
// /v1/chat/completions), and the test compares the exact text the engine evaluated (its onPrompt
// hook: the evaluated tokens, detokenized with special tokens) with the template's rendering.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlamaCppEngine, type EngineEvent, type EngineRequest } from "../../adapters/engines/index.ts";
import { TINY_CHAT_FAMILIES, type TinyChatFamily } from "../../engines/tiny-model/chat-templates.ts";
import { writeTinyModel } from "../../engines/tiny-model/tiny-gguf.ts";
import { parseBuiltinEngineFlags } from "../../engines/builtin/flags.ts";
import { startBuiltinEngine, type BuiltinEngineHandle } from "../../engines/builtin/server.ts";
import type { EvaluatedPrompt } from "../../engines/builtin/engine.ts";

const dir = mkdtempSync(join(tmpdir(), "llorch-chat-templates-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONVERSATION = [
  { role: "user", content: "Hi there" },
  { role: "assistant", content: "Hello." },
  { role: "user", content: "Bye" },
] as const;
const WITH_SYSTEM = [{ role: "system", content: "Be brief." }, ...CONVERSATION] as const;

/** What each template renders for the conversation (with add_generation_prompt), BOS included. */
const EXPECTED: Record<TinyChatFamily, { messages: readonly { role: string; content: string }[]; text: string }> = {
  llama3: {
    messages: WITH_SYSTEM,
    text:
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  },
  // Mistral's and Gemma's templates refuse a system role; the conversation has none.
  mistral: { messages: CONVERSATION, text: "<s>[INST] Hi there [/INST]Hello.</s>[INST] Bye [/INST]" },
  gemma: {
    messages: CONVERSATION,
    text: "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n",
  },
  // ChatML puts no BOS in the template; the model's add_bos_token does, as llama.cpp does.
  chatml: {
    messages: WITH_SYSTEM,
    text:
      "<|bos|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n" +
      "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
  },
  // No template: ChatML, the markers spelled in bytes (this model has no such tokens).
  none: {
    messages: WITH_SYSTEM,
    text:
      "<|bos|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n" +
      "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n",
  },
};

interface Running {
  engine: BuiltinEngineHandle;
  adapter: LlamaCppEngine;
  prompts: EvaluatedPrompt[];
  log: string[];
}

const running = new Map<TinyChatFamily, Running>();

beforeAll(async () => {
  for (const family of Object.keys(TINY_CHAT_FAMILIES) as TinyChatFamily[]) {
    const path = writeTinyModel(join(dir, `${family}.gguf`), { ...TINY_CHAT_FAMILIES[family], contextLength: 256 }).path;
    const prompts: EvaluatedPrompt[] = [];
    const log: string[] = [];
    const engine = startBuiltinEngine(parseBuiltinEngineFlags(["--model", path, "--port", "0", "--cpu", "--ctx", "256"]), {
      log: (line) => log.push(line),
      onPrompt: (p) => prompts.push(p),
    });
    running.set(family, { engine, adapter: new LlamaCppEngine({ baseUrl: engine.url }), prompts, log });
    await engine.ready;
  }
}, 60_000);

afterAll(async () => {
  for (const r of running.values()) await r.engine.stop();
});

async function run(adapter: LlamaCppEngine, request: Omit<EngineRequest, "task_id">): Promise<EngineEvent[]> {
  const events: EngineEvent[] = [];
  for await (const e of adapter.submit({ task_id: `t${Math.random()}`, ...request }, new AbortController().signal)) events.push(e);
  return events;
}

describe("a chat task is rendered with the model's own template", () => {
  for (const family of Object.keys(EXPECTED) as TinyChatFamily[]) {
    test(family, async () => {
      const r = running.get(family)!;
      const { messages, text } = EXPECTED[family];
      r.prompts.length = 0;
      const events = await run(r.adapter, { prompt: "", messages: messages.map((m) => ({ ...m })) as EngineRequest["messages"], max_tokens: 2 });
      expect(r.prompts.map((p) => p.text)).toEqual([text]);
      expect(events[0]).toMatchObject({ type: "started" });
      expect(events.filter((e) => e.type === "token").length).toBeGreaterThan(0);
      // The engine's prompt count is what it evaluated.
      expect(events.at(-1)).toMatchObject({ type: "end", tokens_out: 2, stop_reason: "length", tokens_in: r.prompts[0]!.tokens.length });
    }, 30_000);
  }

  test("the templates' markers are single control tokens where the model has them", () => {
    // Llama 3's vocabulary: … 256 BOS, 257 EOS (<|eot_id|>), 258 <|end_of_text|>, 259 <|start_header_id|>, 260 <|end_header_id|>.
    const llama3 = running.get("llama3")!.prompts[0]!.tokens;
    expect(llama3[0]).toBe(256);
    expect(llama3.filter((t) => t === 259).length).toBe(5);
    expect(llama3.filter((t) => t === 257).length).toBe(4);
    // Without a template the ChatML markers are plain bytes: far more tokens for the same chat.
    expect(running.get("none")!.prompts[0]!.tokens.length).toBe(EXPECTED.none.text.length - "<|bos|>".length + 1);
  });

  test("a model without a template falls back to ChatML and says so once, at load", () => {
    const said = (family: TinyChatFamily) => running.get(family)!.log.filter((l) => l.includes("no chat template"));
    expect(said("none")).toEqual(["main: the model has no chat template (tokenizer.chat_template); chat prompts use chatml"]);
    expect(running.get("none")!.log.some((l) => l.includes("chat template chatml (fallback)"))).toBe(true);
    expect(said("llama3")).toEqual([]);
    expect(running.get("llama3")!.log.some((l) => l.includes("chat template the model's (Llama 3)"))).toBe(true);
  });

  test("a system message under a template without a system role joins the first user turn", async () => {
    const r = running.get("gemma")!;
    r.prompts.length = 0;
    await run(r.adapter, { prompt: "", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }], max_tokens: 1 });
    expect(r.prompts.map((p) => p.text)).toEqual(["<bos><start_of_turn>user\nBe brief.\n\n---\n\nHi<end_of_turn>\n<start_of_turn>model\n"]);
  }, 30_000);

  test("a prompt task is evaluated as given: no template, BOS first", async () => {
    const r = running.get("llama3")!;
    r.prompts.length = 0;
    const events = await run(r.adapter, { prompt: "plain text", max_tokens: 2 });
    expect(r.prompts.map((p) => p.text)).toEqual(["<|begin_of_text|>plain text"]);
    expect(events.at(-1)).toMatchObject({ type: "end", tokens_out: 2, tokens_in: 11 });
  }, 30_000);
});
