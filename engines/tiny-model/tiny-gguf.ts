// The tiny test model: a deterministic llama-architecture GGUF v3 with seeded random weights, so
// tests, benchmarks and `bun run dev` run real llama.cpp inference without downloading anything.
// Layout: GGUF v3, little-endian (header, metadata, tensor infos, data aligned to 32 bytes), with
// the metadata keys llama.cpp refuses to load without (each was removed in turn and tested:
// architecture, context and embedding length, block count, feed-forward length, head count, RMS
// norm epsilon, tokenizer model and tokens; gpt2 tokenizers also need merges, possibly empty).
// The weights are random except for two reserved dimensions that steer sampling towards readable ASCII and make EOS
// available on demand (see TINY_EOS_TRIGGER).

import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

/** Where `bun run model:tiny` and the embedded default put the model (`.cache/` is git-ignored). */
export const DEFAULT_TINY_MODEL_PATH = resolve(import.meta.dir, "../../.cache/models/tiny-llama.gguf");
/** sha256 (lowercase hex) of `tinyModelBytes()` with the default options; a test keeps it honest. */
export const TINY_MODEL_SHA256 = "be257551545270f5eefe49e511f2500a3f0ddd9c3e18d94aec639032ca2627cc";
export const TINY_MODEL_DEFAULTS = { seed: 1, contextLength: 8192 } as const;

export interface TinyModelOptions {
  seed?: number;
  /** `llama.context_length`; at least 8192 by default so thousand-token streams fit. */
  contextLength?: number;
  /** `tokenizer.chat_template`: default TINY_CHAT_TEMPLATE (ChatML); null writes none. */
  chatTemplate?: string | null;
  /** The BOS and EOS tokens' text (default `<|bos|>`, `<|endoftext|>`), as a template names them. */
  bosToken?: string;
  eosToken?: string;
  /**
   * More control tokens, after BOS and EOS (ids 258, 259, …): a template's markers, e.g. Llama 3's
   * `<|start_header_id|>`, so they are single tokens as in the real model. They also grow the
   * vocabulary (and so change every weight); the default has none.
   */
  controlTokens?: string[];
  /** `general.name`. */
  name?: string;
}
export interface TinyModelFile {
  path: string;
  bytes: number;
  sha256: string;
}

// Shape: gpt2-style byte vocabulary (id = byte) plus two control tokens.
const N_EMBD = 64;
const N_LAYER = 2;
const N_HEAD = 4;
const N_FF = 128;
export const TINY_BOS_ID = 256;
export const TINY_EOS_ID = 257;
const ALIGN = 32;

/**
 * ChatML, which node-llama-cpp (ChatMLChatWrapper) and llama-server (`chatml`) both recognise by its
 * `<|im_start|>` marker. The markers are not tokens of this vocabulary: they are spelled in bytes.
 */
export const TINY_CHAT_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** GPT-2's byte-to-unicode table: printable bytes map to themselves, the rest to U+0100 and up. */
function byteTokens(): string[] {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(keep(b) ? b : 256 + extra++));
  return out;
}

// Two residual dimensions are reserved "channels" that the layers neither read (norm gain 0) nor
// write (zero output rows), so they reach the final norm unchanged and act on the logits directly:
// dimension 0 is the constant BIAS_VALUE in every token's embedding (a per-token output bias),
// dimension 1 is TRIGGER_VALUE in the trigger byte's embedding only (it makes the next token EOS).
const BIAS_DIM = 0;
const TRIGGER_DIM = 1;
const CHANNELS = 2;
const BIAS_VALUE = 32;
const TRIGGER_VALUE = 32;
/** The large constant dominates each RMS and shrinks the other dimensions about 4x; gains undo it. */
const NORM_GAIN = 4;
/** Dimension 0 after the final norm: 32 / (sqrt(32² + 62·v) / 8) ≈ 7.7 for a residual variance v of 1-3. */
const BIAS_NORMED = 7.7;
/** Scale of the random, context-dependent part of the output weights (tuned by eye: varied text, few loops). */
const CONTEXT_SCALE = 0.3;

/**
 * The byte that makes the model emit EOS next (ahead of every other token by ~50 logits), so EOS and
 * ignore-EOS can be tested on demand: a prompt ending in it stops at once. The model never
 * generates this byte itself, and EOS has a -20 bias everywhere else, so streams otherwise run to
 * max_tokens (or a stop string).
 */
export const TINY_EOS_TRIGGER = "\u0004";

/**
 * Output bias per token, in logits: sampled text is readable ASCII (spaces and lowercase, under
 * llama.cpp's default min_p/top_p nothing else) instead of random bytes and broken UTF-8.
 */
function outputBias(token: number): number {
  if (token === TINY_EOS_ID) return -20;
  if (token >= 256) return -30; // BOS
  const c = String.fromCharCode(token);
  if (c === " ") return 1;
  if (/[a-z]/.test(c)) return 0;
  if (/[A-Z0-9.,!?'-]/.test(c)) return -4.5;
  if (c === "\n") return -5;
  if (token >= 0x21 && token <= 0x7e) return -6;
  return -30;
}

/** mulberry32: a tiny seeded PRNG, so the file is byte-identical on every run and platform. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tensor {
  name: string;
  dims: number[]; // ne0 first, as ggml counts
  data: Float32Array;
}

function tensors(seed: number, N_VOCAB: number): Tensor[] {
  const rand = prng(seed);
  /** Uniform in [-scale, scale]. */
  const uniform = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
  /** RMS-norm gains: the channels pass the final norm (1) and are hidden from the layers (0). */
  const norm = (channelGain: number) => Float32Array.from({ length: N_EMBD }, (_, i) => (i < CHANNELS ? channelGain : NORM_GAIN));
  /** Zeroes the channels' output rows of a matrix [nIn, nOut], so layers never write them. */
  const keepChannels = (m: Float32Array, nIn: number) => (m.fill(0, 0, CHANNELS * nIn), m);
  const proj = (nIn: number, nOut: number) => uniform(nIn * nOut, Math.sqrt(3 / nIn));

  const embd = uniform(N_EMBD * N_VOCAB, 1);
  for (let t = 0; t < N_VOCAB; t++) {
    embd[t * N_EMBD + BIAS_DIM] = BIAS_VALUE;
    embd[t * N_EMBD + TRIGGER_DIM] = t === TINY_EOS_TRIGGER.charCodeAt(0) ? TRIGGER_VALUE : 0;
  }
  const out: Tensor[] = [{ name: "token_embd.weight", dims: [N_EMBD, N_VOCAB], data: embd }];
  for (let i = 0; i < N_LAYER; i++) {
    const blk = `blk.${i}.`;
    out.push(
      { name: `${blk}attn_norm.weight`, dims: [N_EMBD], data: norm(0) },
      { name: `${blk}attn_q.weight`, dims: [N_EMBD, N_EMBD], data: proj(N_EMBD, N_EMBD) },
      { name: `${blk}attn_k.weight`, dims: [N_EMBD, N_EMBD], data: proj(N_EMBD, N_EMBD) },
      { name: `${blk}attn_v.weight`, dims: [N_EMBD, N_EMBD], data: proj(N_EMBD, N_EMBD) },
      { name: `${blk}attn_output.weight`, dims: [N_EMBD, N_EMBD], data: keepChannels(proj(N_EMBD, N_EMBD), N_EMBD) },
      { name: `${blk}ffn_norm.weight`, dims: [N_EMBD], data: norm(0) },
      { name: `${blk}ffn_gate.weight`, dims: [N_EMBD, N_FF], data: proj(N_EMBD, N_FF) },
      { name: `${blk}ffn_up.weight`, dims: [N_EMBD, N_FF], data: proj(N_EMBD, N_FF) },
      { name: `${blk}ffn_down.weight`, dims: [N_FF, N_EMBD], data: keepChannels(proj(N_FF, N_EMBD), N_FF) },
    );
  }
  // Output rows: the bias channel carries each token's bias, the trigger channel pushes EOS only,
  // the remaining columns are the random, context-dependent part.
  const output = uniform(N_EMBD * N_VOCAB, CONTEXT_SCALE);
  for (let t = 0; t < N_VOCAB; t++) {
    output[t * N_EMBD + BIAS_DIM] = outputBias(t) / BIAS_NORMED;
    output[t * N_EMBD + TRIGGER_DIM] = t === TINY_EOS_ID ? 12 : 0;
  }
  out.push({ name: "output_norm.weight", dims: [N_EMBD], data: norm(1) }, { name: "output.weight", dims: [N_EMBD, N_VOCAB], data: output });
  return out;
}

// ---------------------------------------------------------------------------------------------
// GGUF encoding

/** GGUF value types used here (the full list is in tiny-gguf.md). */
const T = { U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9 } as const;
type Value =
  | { t: "u32" | "f32"; v: number }
  | { t: "bool"; v: boolean }
  | { t: "str"; v: string }
  | { t: "strs"; v: string[] }
  | { t: "i32s"; v: number[] };

class Writer {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private room(n: number) {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u32(v: number) { this.room(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v: number) { this.room(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v: number) { this.room(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  u64(v: number) { this.room(8); this.view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  raw(b: Uint8Array) { this.room(b.length); this.buf.set(b, this.length); this.length += b.length; }
  str(s: string) { const b = new TextEncoder().encode(s); this.u64(b.length); this.raw(b); }
  pad(to: number) { const n = (to - (this.length % to)) % to; this.room(n); this.length += n; }
  bytes(): Uint8Array { return this.buf.slice(0, this.length); }
}

/** The vocabulary: one token per byte, BOS, EOS, then the extra control tokens. */
function vocabulary(o: TinyModelOptions): string[] {
  // GPT-2's own end-of-text name: llama.cpp recognises it as end-of-generation (another name
  // works but logs "special_eos_id is not in special_eog_ids" on every load).
  return [...byteTokens(), o.bosToken ?? "<|bos|>", o.eosToken ?? "<|endoftext|>", ...(o.controlTokens ?? [])];
}

function metadata(contextLength: number, tokens: string[], o: TinyModelOptions): [string, Value][] {
  const template = o.chatTemplate === undefined ? TINY_CHAT_TEMPLATE : o.chatTemplate;
  return [
    ["general.architecture", { t: "str", v: "llama" }],
    ["general.name", { t: "str", v: o.name ?? "llama-orch tiny (random weights)" }],
    ["general.alignment", { t: "u32", v: ALIGN }],
    ["general.file_type", { t: "u32", v: 0 }], // all F32
    ["llama.context_length", { t: "u32", v: contextLength }],
    ["llama.embedding_length", { t: "u32", v: N_EMBD }],
    ["llama.block_count", { t: "u32", v: N_LAYER }],
    ["llama.feed_forward_length", { t: "u32", v: N_FF }],
    ["llama.attention.head_count", { t: "u32", v: N_HEAD }],
    ["llama.attention.head_count_kv", { t: "u32", v: N_HEAD }],
    ["llama.rope.dimension_count", { t: "u32", v: N_EMBD / N_HEAD }],
    ["llama.attention.layer_norm_rms_epsilon", { t: "f32", v: 1e-5 }],
    ["llama.vocab_size", { t: "u32", v: tokens.length }],
    ["tokenizer.ggml.model", { t: "str", v: "gpt2" }],
    ["tokenizer.ggml.pre", { t: "str", v: "default" }],
    ["tokenizer.ggml.tokens", { t: "strs", v: tokens }],
    ["tokenizer.ggml.token_type", { t: "i32s", v: tokens.map((_, id) => (id >= 256 ? 3 : 1)) }], // 1 normal, 3 control
    ["tokenizer.ggml.merges", { t: "strs", v: [] }], // required for gpt2; none: one token per byte
    ["tokenizer.ggml.bos_token_id", { t: "u32", v: TINY_BOS_ID }],
    ["tokenizer.ggml.eos_token_id", { t: "u32", v: TINY_EOS_ID }],
    ["tokenizer.ggml.add_bos_token", { t: "bool", v: true }],
    ...(template === null ? [] : [["tokenizer.chat_template", { t: "str", v: template }] as [string, Value]]),
  ];
}

function writeValue(w: Writer, key: string, value: Value) {
  w.str(key);
  switch (value.t) {
    case "u32": return (w.u32(T.U32), w.u32(value.v));
    case "f32": return (w.u32(T.F32), w.f32(value.v));
    case "bool": return (w.u32(T.BOOL), w.raw(new Uint8Array([value.v ? 1 : 0])));
    case "str": return (w.u32(T.STRING), w.str(value.v));
    case "strs": return (w.u32(T.ARRAY), w.u32(T.STRING), w.u64(value.v.length), value.v.forEach((s) => w.str(s)));
    case "i32s": return (w.u32(T.ARRAY), w.u32(T.I32), w.u64(value.v.length), value.v.forEach((n) => w.i32(n)));
  }
}

/** The model file's bytes; the same options always give the same bytes. */
export function tinyModelBytes(options: TinyModelOptions = {}): Uint8Array {
  const seed = options.seed ?? TINY_MODEL_DEFAULTS.seed;
  const contextLength = options.contextLength ?? TINY_MODEL_DEFAULTS.contextLength;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be a u32, got ${seed}`);
  if (!Number.isInteger(contextLength) || contextLength < 16 || contextLength > 0xffffffff) {
    throw new RangeError(`contextLength must be an integer >= 16, got ${contextLength}`);
  }
  const tokens = vocabulary(options);
  if (new Set(tokens.slice(256)).size !== tokens.length - 256 || tokens.slice(256).some((t) => t.length < 2)) {
    throw new RangeError("bosToken, eosToken and controlTokens must be distinct strings of 2 or more characters");
  }
  const ts = tensors(seed, tokens.length);
  const meta = metadata(contextLength, tokens, options);
  const w = new Writer();
  w.u32(0x46554747); // "GGUF"
  w.u32(3);
  w.u64(ts.length);
  w.u64(meta.length);
  for (const [key, value] of meta) writeValue(w, key, value);
  let offset = 0;
  for (const t of ts) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(0); // F32
    w.u64(offset);
    offset += Math.ceil((t.data.length * 4) / ALIGN) * ALIGN;
  }
  w.pad(ALIGN);
  for (const t of ts) {
    for (const x of t.data) w.f32(x); // little-endian whatever the host
    w.pad(ALIGN);
  }
  return w.bytes();
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function writeAtomically(target: string, bytes: Uint8Array): TinyModelFile {
  mkdirSync(dirname(target), { recursive: true });
  // A reader (an engine starting, a second `ensureTinyModel`) never sees a half-written file.
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { force: true });
  }
  return { path: target, bytes: bytes.length, sha256: sha256(bytes) };
}

/** Writes the model atomically (temp file + rename), creating folders. */
export function writeTinyModel(path: string, options: TinyModelOptions = {}): TinyModelFile {
  return writeAtomically(resolve(path), tinyModelBytes(options));
}

/** Makes sure `path` holds the model for these options; writes only when missing or different. */
export function ensureTinyModel(path: string = DEFAULT_TINY_MODEL_PATH, options: TinyModelOptions = {}): TinyModelFile & { written: boolean } {
  const target = resolve(path);
  const bytes = tinyModelBytes(options);
  const want = sha256(bytes);
  if (existsSync(target)) {
    const have = readFileSync(target);
    if (have.length === bytes.length && sha256(have) === want) return { path: target, bytes: bytes.length, sha256: want, written: false };
  }
  return { ...writeAtomically(target, bytes), written: true };
}
