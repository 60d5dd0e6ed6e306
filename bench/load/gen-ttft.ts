// Idle-path time to first token, a load generator process of its own: R rounds; in each round one
// short stream through every target in turn, strictly one at a time (each read to its end, then a
// short pause), so nothing else is in flight on any path while a stream is measured. Round r
// starts at target r mod P (engine, proxy, v1, v2, then proxy, v1, v2, engine, ...), so whatever a
// stream leaves behind (a store commit, a GC) falls before every target alike.
//   kind "openai"  POST <base><path> {model, prompt, max_tokens, stream:true}: TTFT from sending
//                  the request to the first chunk that holds a token (`data:` with non-empty text)
//   kind "v2"      POST <base>/v2/tasks, then GET the task's SSE stream right after the 202 (as a
//                  client does): TTFT from sending the POST to the first `event: token` frame
// The client keeps its connections alive between requests (as a client in production does) and
// starts with `warmup` unrecorded rounds. Per target: TTFT per round (null where the stream failed),
// outcomes, and on /v2 the time to the 202. Result: JSON in <out>.
// Usage: bun bench/load/gen-ttft.ts '<spec json>'

import { writeFileSync } from "node:fs";
import { frameBatches, frameMeaning } from "./frames.ts";

export interface TtftTarget {
  name: string;
  kind: "openai" | "v2";
  base: string;
  path: string;
}

export interface TtftGenSpec {
  targets: TtftTarget[];
  model: string;
  tokens: number;
  rounds: number;
  warmup: number;
  gapMs: number;
  timeoutMs: number;
  out: string;
}

export interface TtftGenResult {
  rounds: number;
  targets: { name: string; ttft_ms: (number | null)[]; accepted_ms?: (number | null)[]; outcomes: Record<string, number> }[];
  elapsed_ms: number;
}

const spec = JSON.parse(process.argv[2]!) as TtftGenSpec;
const JSON_HEADERS = { "content-type": "application/json" };

/** One stream read to its end: TTFT (ms from sending the first request), time to the 202 on /v2, outcome. */
async function oneStream(t: TtftTarget, k: number): Promise<{ ttft: number | null; accepted: number | null; outcome: string }> {
  const signal = AbortSignal.timeout(spec.timeoutMs);
  const prompt = `ttft ${k}`;
  let first = -1;
  let accepted = -1;
  let tokens = 0;
  let outcome = "no end";
  try {
    const t0 = performance.now();
    let res: Response;
    if (t.kind === "v2") {
      const a = await fetch(`${t.base}/v2/tasks`, { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ model_ref: spec.model, prompt, max_tokens: spec.tokens }), signal });
      const body = (await a.json()) as { streams?: { sse?: string } };
      accepted = performance.now() - t0;
      if (a.status !== 202 || !body.streams?.sse) throw new Error(`submit ${a.status}`);
      res = await fetch(`${t.base}${body.streams.sse}`, { headers: { accept: "text/event-stream" }, signal });
    } else {
      res = await fetch(`${t.base}${t.path}`, { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ model: spec.model, prompt, max_tokens: spec.tokens, stream: true }), signal });
    }
    if (res.status !== 200) throw new Error(`stream ${res.status}`);
    for await (const frames of frameBatches(res.body!)) {
      for (const frame of frames) {
        const m = frameMeaning(t.kind, frame);
        if (m.kind === "end") outcome = "ok";
        else if (m.kind === "error") outcome = `error ${m.code}`;
        else if (m.kind === "token") {
          if (first < 0) first = performance.now() - t0;
          tokens++;
        }
      }
    }
    if (outcome === "ok" && tokens !== spec.tokens) outcome = "short";
  } catch (error) {
    outcome = `failed: ${(error as Error).message.slice(0, 80)}`;
  }
  return { ttft: outcome === "ok" ? first : null, accepted: accepted >= 0 ? accepted : null, outcome };
}

const t0 = performance.now();
const P = spec.targets.length;
const results = spec.targets.map((t) => ({ name: t.name, ttft_ms: [] as (number | null)[], accepted_ms: t.kind === "v2" ? ([] as (number | null)[]) : undefined, outcomes: {} as Record<string, number> }));
let k = 0;
for (let r = -spec.warmup; r < spec.rounds; r++) {
  for (let j = 0; j < P; j++) {
    const i = (((r + j) % P) + P) % P;
    const x = await oneStream(spec.targets[i]!, k++);
    if (r >= 0) {
      const acc = results[i]!;
      acc.ttft_ms[r] = x.ttft;
      if (acc.accepted_ms) acc.accepted_ms[r] = x.accepted;
      acc.outcomes[x.outcome] = (acc.outcomes[x.outcome] ?? 0) + 1;
    }
    if (spec.gapMs > 0) await Bun.sleep(spec.gapMs);
  }
}
const result: TtftGenResult = { rounds: spec.rounds, targets: results, elapsed_ms: performance.now() - t0 };
writeFileSync(spec.out, JSON.stringify(result));
process.exit(0);
