// The tiny model generator: same bytes every run, a GGUF v3 file that parses back (read with a small
// independent reader below) to the shape and metadata llama.cpp needs, atomic and idempotent writes.

import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEFAULT_TINY_MODEL_PATH, ensureTinyModel, TINY_BOS_ID, TINY_CHAT_TEMPLATE, TINY_EOS_ID, TINY_MODEL_SHA256,
  tinyModelBytes, writeTinyModel,
} from "./tiny-gguf.ts";
import { TINY_CHAT_FAMILIES } from "./chat-templates.ts";

/** Pinned: a change here means every cached model and recorded digest changes too. */
const EXPECTED_SHA256 = "be257551545270f5eefe49e511f2500a3f0ddd9c3e18d94aec639032ca2627cc";
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Gguf {
  version: number;
  meta: Map<string, unknown>;
  tensors: { name: string; dims: number[]; type: number; offset: number }[];
  dataOffset: number;
}

/** A minimal GGUF v3 reader written from the format description, independent of the writer. */
function readGguf(bytes: Uint8Array): Gguf {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const u32 = () => ((at += 4), view.getUint32(at - 4, true));
  const u64 = () => ((at += 8), Number(view.getBigUint64(at - 8, true)));
  const str = () => {
    const n = u64();
    at += n;
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(at - n, at));
  };
  const value = (type: number): unknown => {
    switch (type) {
      case 4: return u32();
      case 5: return ((at += 4), view.getInt32(at - 4, true));
      case 6: return ((at += 4), view.getFloat32(at - 4, true));
      case 7: return bytes[at++] === 1;
      case 8: return str();
      case 9: {
        const elem = u32();
        return Array.from({ length: u64() }, () => value(elem));
      }
      default: throw new Error(`unexpected value type ${type}`);
    }
  };
  if (u32() !== 0x46554747) throw new Error("bad magic");
  const version = u32();
  const nTensors = u64();
  const nMeta = u64();
  const meta = new Map<string, unknown>();
  for (let i = 0; i < nMeta; i++) {
    const key = str();
    meta.set(key, value(u32()));
  }
  const tensors = Array.from({ length: nTensors }, () => {
    const name = str();
    const dims = Array.from({ length: u32() }, () => u64());
    return { name, dims, type: u32(), offset: u64() };
  });
  return { version, meta, tensors, dataOffset: Math.ceil(at / 32) * 32 };
}

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "tiny-gguf-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("tinyModelBytes", () => {
  test("is byte-identical across generations and matches the pinned digest", () => {
    const a = tinyModelBytes();
    const b = tinyModelBytes();
    expect(sha256(a)).toBe(sha256(b));
    expect(sha256(a)).toBe(EXPECTED_SHA256);
    expect(TINY_MODEL_SHA256).toBe(EXPECTED_SHA256);
    expect(a.length).toBe(466_976);
  });

  test("the seed changes the weights only; the context length changes the metadata only", () => {
    const base = tinyModelBytes();
    const seeded = tinyModelBytes({ seed: 2 });
    expect(seeded.length).toBe(base.length);
    expect(sha256(seeded)).not.toBe(sha256(base));
    const header = readGguf(base).dataOffset;
    expect(Buffer.from(seeded.subarray(0, header)).equals(Buffer.from(base.subarray(0, header)))).toBe(true);

    const long = tinyModelBytes({ contextLength: 32768 });
    expect(readGguf(long).meta.get("llama.context_length")).toBe(32768);
    expect(Buffer.from(long.subarray(header)).equals(Buffer.from(base.subarray(header)))).toBe(true);
  });

  test("rejects options llama.cpp could not use", () => {
    expect(() => tinyModelBytes({ seed: -1 })).toThrow(RangeError);
    expect(() => tinyModelBytes({ seed: 1.5 })).toThrow(RangeError);
    expect(() => tinyModelBytes({ contextLength: 0 })).toThrow(RangeError);
    expect(() => tinyModelBytes({ contextLength: Number.NaN })).toThrow(RangeError);
  });
});

describe("the file parses back", () => {
  const bytes = tinyModelBytes();
  const gguf = readGguf(bytes);

  test("GGUF v3 header with the llama hyper-parameters and a long context", () => {
    expect(gguf.version).toBe(3);
    const m = gguf.meta;
    expect(m.get("general.architecture")).toBe("llama");
    expect(m.get("general.alignment")).toBe(32);
    expect(m.get("llama.context_length")).toBe(8192);
    expect(m.get("llama.embedding_length")).toBe(64);
    expect(m.get("llama.block_count")).toBe(2);
    expect(m.get("llama.feed_forward_length")).toBe(128);
    expect(m.get("llama.attention.head_count")).toBe(4);
    expect(m.get("llama.attention.layer_norm_rms_epsilon")).toBeCloseTo(1e-5, 10);
    expect(m.get("tokenizer.chat_template")).toBe(TINY_CHAT_TEMPLATE);
  });

  test("a gpt2 byte vocabulary: 256 byte tokens, then BOS and EOS as control tokens", () => {
    const m = gguf.meta;
    const tokens = m.get("tokenizer.ggml.tokens") as string[];
    const types = m.get("tokenizer.ggml.token_type") as number[];
    expect(m.get("tokenizer.ggml.model")).toBe("gpt2");
    expect(m.get("tokenizer.ggml.merges")).toEqual([]);
    expect(tokens.length).toBe(258);
    expect(new Set(tokens).size).toBe(258);
    expect(tokens[65]).toBe("A");
    expect(tokens[32]).toBe("Ġ"); // GPT-2's stand-in for the space byte
    expect(tokens[10]).toBe("Ċ"); // and for newline
    expect([tokens[TINY_BOS_ID], tokens[TINY_EOS_ID]]).toEqual(["<|bos|>", "<|endoftext|>"]);
    expect(types.slice(0, 256).every((t) => t === 1)).toBe(true);
    expect([types[256], types[257]]).toEqual([3, 3]);
    expect(m.get("tokenizer.ggml.bos_token_id")).toBe(TINY_BOS_ID);
    expect(m.get("tokenizer.ggml.eos_token_id")).toBe(TINY_EOS_ID);
  });

  test("F32 tensors of the llama shapes, 32-byte aligned, filling the file exactly", () => {
    const shapes = Object.fromEntries(gguf.tensors.map((t) => [t.name, t.dims]));
    expect(gguf.tensors.length).toBe(3 + 2 * 9);
    expect(shapes["token_embd.weight"]).toEqual([64, 258]);
    expect(shapes["output.weight"]).toEqual([64, 258]);
    expect(shapes["output_norm.weight"]).toEqual([64]);
    for (const i of [0, 1]) {
      for (const n of ["attn_q", "attn_k", "attn_v", "attn_output"]) expect(shapes[`blk.${i}.${n}.weight`]).toEqual([64, 64]);
      expect(shapes[`blk.${i}.ffn_gate.weight`]).toEqual([64, 128]);
      expect(shapes[`blk.${i}.ffn_up.weight`]).toEqual([64, 128]);
      expect(shapes[`blk.${i}.ffn_down.weight`]).toEqual([128, 64]);
      expect(shapes[`blk.${i}.attn_norm.weight`]).toEqual([64]);
    }
    let expected = 0;
    for (const t of gguf.tensors) {
      expect(t.type).toBe(0);
      expect(t.offset).toBe(expected);
      expected += Math.ceil((t.dims.reduce((a, b) => a * b, 1) * 4) / 32) * 32;
    }
    expect(gguf.dataOffset % 32).toBe(0);
    expect(bytes.length).toBe(gguf.dataOffset + expected);
    const weights = new Float32Array(bytes.slice(gguf.dataOffset).buffer);
    expect(weights.every(Number.isFinite)).toBe(true);
    expect(new Set(weights.subarray(0, 4096)).size).toBeGreaterThan(1000); // random, not a fill
  });
});

describe("writing", () => {
  test("writeTinyModel creates folders, writes the bytes and leaves no temp file", () => {
    const dir = tempDir();
    const path = join(dir, "a", "b", "tiny.gguf");
    const out = writeTinyModel(path, { seed: 3 });
    expect(out).toEqual({ path, bytes: 466_976, sha256: sha256(readFileSync(path)) });
    expect(sha256(readFileSync(path))).toBe(sha256(tinyModelBytes({ seed: 3 })));
    expect(readdirSync(join(dir, "a", "b"))).toEqual(["tiny.gguf"]);
  });

  test("ensureTinyModel writes when missing or different and leaves a good file alone", () => {
    const path = join(tempDir(), "m", "tiny.gguf");
    const first = ensureTinyModel(path);
    expect(first).toMatchObject({ path, written: true, sha256: EXPECTED_SHA256 });
    const mtime = statSync(path).mtimeMs;

    expect(ensureTinyModel(path)).toMatchObject({ written: false, sha256: EXPECTED_SHA256 });
    expect(statSync(path).mtimeMs).toBe(mtime);

    writeFileSync(path, "truncated");
    expect(ensureTinyModel(path)).toMatchObject({ written: true, bytes: 466_976 });
    expect(sha256(readFileSync(path))).toBe(EXPECTED_SHA256);

    // Other options make another model at the same path.
    expect(ensureTinyModel(path, { contextLength: 16384 }).written).toBe(true);
    expect(readGguf(readFileSync(path)).meta.get("llama.context_length")).toBe(16384);
  });

  test("the default path is under the git-ignored .cache/ at the repository root", () => {
    expect(DEFAULT_TINY_MODEL_PATH.endsWith("/.cache/models/tiny-llama.gguf")).toBe(true);
    expect(DEFAULT_TINY_MODEL_PATH).toBe(join(import.meta.dir, "..", "..", ".cache", "models", "tiny-llama.gguf"));
  });
});

describe("chat templates and special tokens", () => {
  test("a template, BOS/EOS names and control tokens are written; null writes no template; the default is unchanged", () => {
    const llama3 = readGguf(tinyModelBytes(TINY_CHAT_FAMILIES.llama3));
    expect(llama3.meta.get("tokenizer.chat_template")).toBe(TINY_CHAT_FAMILIES.llama3.chatTemplate);
    expect(llama3.meta.get("general.name")).toBe("tiny llama3-style chat");
    const tokens = llama3.meta.get("tokenizer.ggml.tokens") as string[];
    expect(tokens.slice(256)).toEqual(["<|begin_of_text|>", "<|eot_id|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"]);
    expect((llama3.meta.get("tokenizer.ggml.token_type") as number[]).slice(256)).toEqual([3, 3, 3, 3, 3]); // control
    expect(llama3.meta.get("llama.vocab_size")).toBe(261);
    // The embedding and output matrices grow with the vocabulary.
    expect(llama3.tensors.find((t) => t.name === "token_embd.weight")!.dims).toEqual([64, 261]);
    expect(llama3.tensors.find((t) => t.name === "output.weight")!.dims).toEqual([64, 261]);

    expect(readGguf(tinyModelBytes({ chatTemplate: null })).meta.has("tokenizer.chat_template")).toBe(false);
    expect(sha256(tinyModelBytes({}))).toBe(EXPECTED_SHA256);
    expect(readGguf(tinyModelBytes()).meta.get("tokenizer.chat_template")).toBe(TINY_CHAT_TEMPLATE);
  });

  test("special tokens must be distinct and longer than one character (one-byte names are byte tokens)", () => {
    expect(() => tinyModelBytes({ controlTokens: ["<|bos|>"] })).toThrow(RangeError);
    expect(() => tinyModelBytes({ bosToken: "x" })).toThrow(RangeError);
  });
});
