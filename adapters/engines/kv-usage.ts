// KV cache use of an engine, read beside its health poll (docs/contract.md#metrics,
// `kv_cache_usage_ratio`). Engines are peers: every answer is read up to a byte bound (a larger
// one is dropped unread), within a time budget, and scanned for the one figure wanted; nothing
// here throws on a bad answer, it reads as "unknown".
//
// - llama.cpp-style servers: `llamacpp:kv_cache_usage_ratio` on /metrics (older llama-server with
//   --metrics, our built-in engine, the mock engine program); else /slots, where each slot says its
//   context (`n_ctx`) and the tokens it holds (`n_prompt_tokens`, current llama-server).
// - vLLM: `vllm:kv_cache_usage_perc` (newer) or `vllm:gpu_cache_usage_perc` on /metrics, a
//   fraction despite the name; the largest over its series (data-parallel engines).

import type { Clock } from "../../runtime/index.ts";
import { deadline } from "./http-stream.ts";

/** Most bytes read of a /metrics answer (llama-server's is ~3 KiB, vLLM's ~100 KiB). */
export const METRICS_MAX_BYTES = 512 * 1024;
/** Most bytes read of a /slots answer (it carries each slot's prompt text). */
export const SLOTS_MAX_BYTES = 8 * 1024 * 1024;

/** The body as text, or undefined when it is larger than `maxBytes` (the rest is not read). */
export async function readBounded(res: Response, maxBytes: number): Promise<string | undefined> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined);
        return undefined;
      }
      parts.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return new TextDecoder().decode(Buffer.concat(parts));
}

/**
 * The values of the samples of `name` in a Prometheus text exposition (with or without labels);
 * comment lines and other series are skipped, unparsable values dropped.
 */
export function metricSamples(text: string, name: string): number[] {
  const out: number[] = [];
  let at = 0;
  while ((at = text.indexOf(name, at)) !== -1) {
    const lineStart = at === 0 || text[at - 1] === "\n";
    const after = text[at + name.length];
    at += name.length;
    if (!lineStart || (after !== " " && after !== "{")) continue;
    const end = text.indexOf("\n", at);
    const line = text.slice(at, end === -1 ? undefined : end);
    // After the labels (which may hold spaces inside quotes): value [timestamp].
    const rest = after === "{" ? line.slice(line.lastIndexOf("}") + 1) : line;
    const v = Number(rest.trim().split(/\s+/)[0]);
    if (rest.trim() !== "" && Number.isFinite(v)) out.push(v);
  }
  return out;
}

/** A fraction in [0,1], or undefined for anything else. */
export function fraction(v: number | undefined): number | undefined {
  return v !== undefined && Number.isFinite(v) && v >= 0 && v <= 1 ? v : undefined;
}

/**
 * KV use from a llama-server /slots answer: the tokens the slots hold over their contexts, clamped
 * to [0,1]. With a unified KV cache (`--kv-unified`) every slot reports the whole context, which
 * is counted once. Undefined when the answer lists no slot with a context.
 */
export function slotsKvRatio(text: string, unified = false): number | undefined {
  let ctx = 0;
  let maxCtx = 0;
  let tokens = 0;
  // Keys only: inside a JSON string a quote is escaped, so `"n_ctx":` cannot come from prompt text.
  for (const m of text.matchAll(/"(n_ctx|n_prompt_tokens)":\s*(\d{1,12})/g)) {
    const n = Number(m[2]);
    if (m[1] === "n_ctx") (ctx += n), (maxCtx = Math.max(maxCtx, n));
    else tokens += n;
  }
  const capacity = unified ? maxCtx : ctx;
  if (capacity <= 0) return undefined;
  return Math.min(1, tokens / capacity);
}

export interface KvReaderOptions {
  base: string;
  clock: Clock;
  /** Budget of one read (all its requests); default 2 s. */
  timeoutMs?: number;
  headers?: Record<string, string>;
  /** The server shares one KV cache among its slots (llama-server --kv-unified). */
  unified?: boolean;
}

type Source = "metrics" | "slots" | "none";

/** GET `path` within `signal`, read up to `maxBytes`; undefined on any failure or a non-2xx. */
async function getText(url: string, maxBytes: number, signal: AbortSignal, headers?: Record<string, string>): Promise<{ status: number; text?: string } | undefined> {
  try {
    const res = await fetch(url, { signal, headers });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return { status: res.status };
    }
    return { status: res.status, text: await readBounded(res, maxBytes) };
  } catch {
    return undefined;
  }
}

/** Reads a llama.cpp-style server's KV use: /metrics while it has the ratio, else /slots. */
export class LlamaKvReader {
  /** Where the ratio was found last; "metrics" is tried first until an answer lacks it. */
  private source: Source = "metrics";

  constructor(private readonly options: KvReaderOptions) {}

  async read(signal?: AbortSignal): Promise<number | undefined> {
    const limit = deadline(this.options.clock, this.options.timeoutMs ?? 2000, "KV cache read");
    const s = signal ? AbortSignal.any([signal, limit.signal]) : limit.signal;
    try {
      if (this.source === "metrics") {
        const r = await getText(`${this.options.base}/metrics`, METRICS_MAX_BYTES, s, this.options.headers);
        if (!r) return undefined; // unreachable or timed out: try again next time
        const v = r.text === undefined ? undefined : fraction(metricSamples(r.text, "llamacpp:kv_cache_usage_ratio")[0]);
        if (v !== undefined) return v;
        this.source = "slots";
      }
      if (this.source === "slots") {
        const r = await getText(`${this.options.base}/slots`, SLOTS_MAX_BYTES, s, this.options.headers);
        if (r && (r.status === 404 || r.status === 501)) this.source = "none"; // --no-slots
        return r?.text === undefined ? undefined : slotsKvRatio(r.text, this.options.unified);
      }
      return undefined;
    } finally {
      limit.cancel();
    }
  }
}

/** Reads vLLM's KV use from /metrics; stops asking a server that answered without it. */
export class VllmKvReader {
  private gone = false;

  constructor(private readonly options: KvReaderOptions) {}

  async read(signal?: AbortSignal): Promise<number | undefined> {
    if (this.gone) return undefined;
    const limit = deadline(this.options.clock, this.options.timeoutMs ?? 2000, "KV cache read");
    try {
      const r = await getText(`${this.options.base}/metrics`, METRICS_MAX_BYTES, signal ? AbortSignal.any([signal, limit.signal]) : limit.signal, this.options.headers);
      if (!r) return undefined; // unreachable or timed out: try again next time
      // Not vLLM (no /metrics, an oversized one, or no such series): a clear answer, not asked again.
      if (r.text === undefined) return void (this.gone = true);
      const samples = metricSamples(r.text, "vllm:kv_cache_usage_perc");
      const values = samples.length > 0 ? samples : metricSamples(r.text, "vllm:gpu_cache_usage_perc");
      if (values.length === 0) return void (this.gone = true);
      return fraction(Math.max(...values));
    } finally {
      limit.cancel();
    }
  }
}
