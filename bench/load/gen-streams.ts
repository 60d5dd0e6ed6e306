// Streaming load generator, a process of its own: S streams opened over rampMs, each read to its
// end, counting tokens frame by frame (every SSE frame is split out; a token is an `event: token`
// frame on /v2, a `data:` chunk with non-empty text on the OpenAI API).
//   kind "openai"  POST <base><path> {model, prompt, max_tokens, stream:true}   (engine, proxy, /v1)
//   kind "v2"      POST <base>/v2/tasks, then GET the task's SSE stream
// Per stream: time to first token (from the first request), tokens, outcome. Over the run: tokens
// delivered per bucket and the number of open streams. stopAfterMs > 0 aborts every stream still
// open at that time (outcome "stopped"). Result: JSON in <out>.
// Usage: bun bench/load/gen-streams.ts '<spec json>'   (needs BUN_CONFIG_MAX_HTTP_REQUESTS > streams)

import { writeFileSync } from "node:fs";
import { frameBatches, frameMeaning } from "./frames.ts";

export interface StreamGenSpec {
  kind: "openai" | "v2";
  base: string;
  path: string;
  model: string;
  streams: number;
  tokens: number;
  rampMs: number;
  stopAfterMs: number;
  bucketMs: number;
  out: string;
}

const spec = JSON.parse(process.argv[2]!) as StreamGenSpec;
const t0 = performance.now();
const rel = () => performance.now() - t0;

const ttft: number[] = [];
const tokensPer: number[] = [];
const endMs: number[] = [];
const outcomes: Record<string, number> = {};
const buckets: number[] = [];
const openBuckets: number[] = [];
let open = 0;
let peakOpen = 0;
let delivered = 0;
const stop = new AbortController();

const count = (what: string) => (outcomes[what] = (outcomes[what] ?? 0) + 1);
const addTokens = (n: number) => {
  const b = Math.floor(rel() / spec.bucketMs);
  while (buckets.length <= b) buckets.push(0);
  buckets[b]! += n;
  delivered += n;
};
const sampler = setInterval(() => openBuckets.push(open), spec.bucketMs);

/** A task refused at submission (e.g. `503 REPLICA_EXHAUSTED store.backlog`, retriable): an answer, not a failure. */
class Refused extends Error {
  constructor(status: number, body: unknown) {
    const e = ((body as { error?: unknown })?.error ?? body) as { code?: unknown; policy_label?: unknown };
    super(`refused ${status}${typeof e?.code === "string" ? ` ${e.code}` : ""}${typeof e?.policy_label === "string" ? ` ${e.policy_label}` : ""}`);
  }
}

async function oneStream(k: number): Promise<void> {
  const started = rel();
  let first = -1;
  let tokens = 0;
  let outcome = "no end";
  const prompt = `load ${k}`;
  try {
    let res: Response;
    if (spec.kind === "v2") {
      const a = await fetch(`${spec.base}/v2/tasks`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model_ref: spec.model, prompt, max_tokens: spec.tokens }), signal: stop.signal });
      const body = (await a.json()) as { streams?: { sse?: string } };
      if (a.status !== 202 || !body.streams?.sse) throw new Refused(a.status, body);
      res = await fetch(`${spec.base}${body.streams.sse}`, { headers: { accept: "text/event-stream" }, signal: stop.signal });
    } else {
      res = await fetch(`${spec.base}${spec.path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: spec.model, prompt, max_tokens: spec.tokens, stream: true }), signal: stop.signal });
    }
    if (res.status !== 200) throw res.status >= 400 && res.status < 600 && spec.kind !== "v2" ? new Refused(res.status, await res.json().catch(() => ({}))) : new Error(`stream ${res.status}`);
    open++;
    peakOpen = Math.max(peakOpen, open);
    try {
      for await (const frames of frameBatches(res.body!)) {
        let n = 0;
        for (const frame of frames) {
          const m = frameMeaning(spec.kind, frame);
          if (m.kind === "token") n++;
          else if (m.kind === "end") outcome = "ok";
          else if (m.kind === "error") outcome = `error ${m.code}`;
        }
        if (n > 0) {
          if (first < 0) first = rel() - started;
          tokens += n;
          addTokens(n);
        }
      }
    } finally {
      open--;
    }
    if (outcome === "ok" && tokens !== spec.tokens) outcome = "short";
  } catch (error) {
    outcome = stop.signal.aborted ? "stopped" : error instanceof Refused ? error.message : `failed: ${(error as Error).message.slice(0, 80)}`;
  }
  count(outcome);
  if (first >= 0) ttft.push(first);
  tokensPer.push(tokens);
  endMs.push(rel());
}

if (spec.stopAfterMs > 0) setTimeout(() => stop.abort(), spec.stopAfterMs);
const all: Promise<void>[] = [];
for (let k = 0; k < spec.streams; k++) {
  const due = spec.streams > 1 ? (k * spec.rampMs) / (spec.streams - 1) : 0;
  if (due > rel()) await Bun.sleep(due - rel());
  all.push(oneStream(k));
}
await Promise.all(all);
clearInterval(sampler);
writeFileSync(
  spec.out,
  JSON.stringify({
    kind: spec.kind,
    t0_epoch_ms: performance.timeOrigin + t0,
    elapsed_ms: rel(),
    streams: spec.streams,
    delivered,
    outcomes,
    peak_open: peakOpen,
    ttft_ms: ttft,
    tokens_per_stream_min: Math.min(...tokensPer),
    tokens_per_stream_max: Math.max(...tokensPer),
    first_end_ms: Math.min(...endMs),
    last_end_ms: Math.max(...endMs),
    buckets,
    open_buckets: openBuckets,
    bucket_ms: spec.bucketMs,
  }),
);
process.exit(0);
