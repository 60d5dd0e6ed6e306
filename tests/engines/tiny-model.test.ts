// The tiny model under real llama.cpp (node-llama-cpp's prebuilt CPU binary, one thread): it loads
// with an 8192-token context, tokenizes bytes, generates the same text for the same seed, runs
// thousands of tokens past EOS when EOS is ignored, and picks ChatML for chats. Also the
// `bun run model:tiny` command as a user runs it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  ChatMLChatWrapper, getLlama, type Llama, type LlamaContext, LlamaLogLevel, type LlamaModel, readGgufFileInfo, resolveChatWrapper,
  type SequenceEvaluateOptions, type Token,
} from "node-llama-cpp";
import { TINY_BOS_ID, TINY_EOS_ID, TINY_EOS_TRIGGER, TINY_MODEL_SHA256, writeTinyModel } from "../../engines/tiny-model/tiny-gguf.ts";
import { parseModelTinyArgs } from "../../scripts/model-tiny.ts";

const ROOT = resolve(import.meta.dir, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "tiny-model-"));
const modelPath = join(dir, "tiny.gguf");
let llama: Llama;
let model: LlamaModel;
let context: LlamaContext;
let loadMs = 0;

beforeAll(async () => {
  writeTinyModel(modelPath);
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const t0 = performance.now();
  model = await llama.loadModel({ modelPath });
  loadMs = performance.now() - t0;
  // threads ≤ cores: node-llama-cpp's default (≥ 4) collapses throughput on a 2-core machine.
  context = await model.createContext({ contextSize: 8192, threads: 1 });
}, 30_000);

afterAll(async () => {
  await context?.dispose();
  await model?.dispose();
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** Generates up to `n` tokens after `prompt` on a fresh sequence history. */
async function generate(prompt: string, n: number, options: SequenceEvaluateOptions): Promise<Token[]> {
  const seq = context.getSequence();
  try {
    const out: Token[] = [];
    if (n === 0) return out;
    for await (const token of seq.evaluate(model.tokenize(prompt), options)) {
      out.push(token);
      if (out.length >= n) break;
    }
    return out;
  } finally {
    seq.dispose();
  }
}

describe("the tiny model in llama.cpp", () => {
  test("node-llama-cpp's own GGUF reader sees a llama model with an 8192 context", async () => {
    const info = await readGgufFileInfo(modelPath);
    expect(info.version).toBe(3);
    expect(String(info.metadata.general.architecture)).toBe("llama");
    expect(info.architectureMetadata.context_length).toBe(8192);
    expect(info.metadata.tokenizer.ggml.tokens.length).toBe(258);
  });

  test("loads quickly and takes an 8192-token context on one thread", () => {
    expect(loadMs).toBeLessThan(5_000);
    expect(context.contextSize).toBe(8192);
    expect(model.trainContextSize).toBe(8192);
    expect(String(model.fileInfo.metadata.general.architecture)).toBe("llama");
  });

  test("tokenizes one token per byte and decodes back; BOS and EOS are the control tokens", () => {
    const tokens = model.tokenize("hi there\n");
    expect(tokens).toEqual([104, 105, 32, 116, 104, 101, 114, 101, 10] as Token[]);
    expect(model.detokenize(tokens)).toBe("hi there\n");
    expect(model.tokenize("héllo").length).toBe(6); // é is two UTF-8 bytes
    expect(model.tokens.bos).toBe(TINY_BOS_ID as Token);
    expect(model.tokens.eos).toBe(TINY_EOS_ID as Token);
    expect(model.isEogToken(TINY_EOS_ID as Token)).toBe(true);
  });

  test("the same seed gives the same text; another seed gives other text", async () => {
    const opts = { temperature: 0.8, topK: 40, topP: 0.95, seed: 42 };
    const a = model.detokenize(await generate("Once upon a time", 50, opts));
    const b = model.detokenize(await generate("Once upon a time", 50, opts));
    const c = model.detokenize(await generate("Once upon a time", 50, { ...opts, seed: 43 }));
    expect(a.length).toBe(50);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(a).toMatch(/^[\x20-\x7e]+$/); // readable ASCII, by design of the output biases
  }, 30_000);

  test("EOS comes on demand: right after the trigger byte", async () => {
    const stopped = await generate(`go${TINY_EOS_TRIGGER}`, 10, { temperature: 0.8, seed: 1 });
    expect(stopped).toEqual([]); // EOS ends the generation before any token is yielded
    const yielded = await generate(`go${TINY_EOS_TRIGGER}`, 3, { temperature: 0.8, seed: 1, yieldEogToken: true });
    expect(yielded[0]).toBe(TINY_EOS_ID as Token);
  }, 30_000);

  test("with EOS ignored it generates 2500 tokens in one stream, and EOS never comes unasked", async () => {
    const t0 = performance.now();
    const tokens = await generate(`long${TINY_EOS_TRIGGER}`, 2500, { temperature: 0.8, seed: 7, yieldEogToken: true });
    const seconds = (performance.now() - t0) / 1000;
    expect(tokens.length).toBe(2500);
    expect(tokens[0]).toBe(TINY_EOS_ID as Token);
    expect(tokens.slice(1).filter((t) => t === TINY_EOS_ID)).toEqual([]);
    console.log(`tiny model: load ${loadMs.toFixed(0)} ms, ${(tokens.length / seconds).toFixed(0)} tok/s on 1 thread`);
  }, 60_000);

  test("chats are formatted with ChatML, from the model's chat template", () => {
    expect(resolveChatWrapper(model)).toBeInstanceOf(ChatMLChatWrapper);
  });
});

describe("bun run model:tiny", () => {
  test("writes the model to PATH, then reports it up to date", async () => {
    const path = join(dir, "cli", "tiny.gguf");
    const run = async () => {
      const proc = Bun.spawn([process.execPath, "scripts/model-tiny.ts", path], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      return { stdout, code };
    };
    const first = await run();
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(`wrote ${path} (466976 bytes, sha256:${TINY_MODEL_SHA256})\n`);
    const digest = new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
    expect(digest).toBe(TINY_MODEL_SHA256);
    const second = await run();
    expect(second.stdout).toStartWith(`up to date ${path}`);
  }, 30_000);

  test("bad arguments exit 2 with the usage line", async () => {
    const proc = Bun.spawn([process.execPath, "scripts/model-tiny.ts", "--seed", "x"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(code).toBe(2);
    expect(stderr).toContain("--seed needs an integer, got x");
    expect(stderr).toContain("usage: bun run model:tiny");
  }, 30_000);

  test("argument parsing", () => {
    expect(parseModelTinyArgs(["a.gguf", "--seed", "3", "--context-length=16384"])).toEqual({
      path: "a.gguf", options: { seed: 3, contextLength: 16384 }, help: false,
    });
    expect(parseModelTinyArgs([]).path).toEndWith("/.cache/models/tiny-llama.gguf");
    expect(() => parseModelTinyArgs(["a", "b"])).toThrow("one PATH only");
    expect(() => parseModelTinyArgs(["--bogus"])).toThrow("unknown flag --bogus");
  });
});
