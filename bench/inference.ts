// Real inference, side by side in one run, on ONE built-in engine process (tiny model, CPU):
//   direct        the engine's own /completion stream through our llama.cpp adapter
//   orchestrator  POST /v2/tasks + SSE through control plane and node (in one process), the node
//                 bound to that same engine through a handoff file, so both sides share it
//   openai        the same through the control plane's /v1/completions (streaming)
// Each side: time to first token and tokens/s for single streams (greedy, EOS ignored), and the
// total tokens/s of 2 concurrent streams (the engine's 2 slots); medians over rounds that
// interleave the three sides.
// Usage: bun run bench:inference [--tokens N] [--rounds N]   (results: bench/results/inference-latest.json)

import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { LlamaCppEngine } from "../adapters/engines/index.ts";
import { builtinEngineArgv } from "../engines/builtin/main.ts";
import { freePort, stopGroup, waitHealthy } from "../host/index.ts";
import { DEFAULT_TINY_MODEL_PATH, ensureTinyModel } from "../engines/tiny-model/tiny-gguf.ts";
import { poolOf, startCluster, waitForNodes } from "../tests/harness/cluster.ts";
import { openSse, submitTask } from "../tests/harness/sse.ts";

const { values } = parseArgs({ options: { tokens: { type: "string", default: "512" }, rounds: { type: "string", default: "7" } } });
const TOKENS = Number(values.tokens);
const ROUNDS = Number(values.rounds);

interface Sample {
  tokens: number;
  ms: number;
  ttftMs: number;
}

ensureTinyModel(DEFAULT_TINY_MODEL_PATH);
const port = freePort();
const engineProc = Bun.spawn(builtinEngineArgv(["--model", DEFAULT_TINY_MODEL_PATH, "--port", String(port), "--parallel", "2", "--threads", "1", "--cpu", "--alias", "tiny"]), {
  detached: true,
  stdout: "ignore",
  stderr: "ignore",
});
const base = `http://127.0.0.1:${port}`;

async function direct(seed: number): Promise<Sample> {
  const engine = new LlamaCppEngine({ baseUrl: base });
  const t0 = performance.now();
  let ttft = 0;
  let n = 0;
  for await (const ev of engine.submit({ task_id: `d${seed}`, prompt: "bench", max_tokens: TOKENS, seed, ignore_eos: true }, new AbortController().signal)) {
    if (ev.type === "token" && n++ === 0) ttft = performance.now() - t0;
  }
  return { tokens: n, ms: performance.now() - t0, ttftMs: ttft };
}

async function viaTasks(url: string, seed: number): Promise<Sample> {
  const t0 = performance.now();
  const a = await submitTask(url, { model_ref: "tiny", prompt: "bench", max_tokens: TOKENS, seed, ignore_eos: true });
  if (a.status !== 202) throw new Error(`submit failed: ${a.status} ${JSON.stringify(a.json)}`);
  let ttft = 0;
  let n = 0;
  for await (const f of (await openSse(`${url}${a.json.streams.sse}`)).frames) if (f.event === "token" && n++ === 0) ttft = performance.now() - t0;
  return { tokens: n, ms: performance.now() - t0, ttftMs: ttft };
}

async function viaOpenAi(url: string, seed: number): Promise<Sample> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny", prompt: "bench", max_tokens: TOKENS, seed, ignore_eos: true, stream: true }),
  });
  let ttft = 0;
  let n = 0;
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body!) {
    buf += decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
      const text = JSON.parse(line.slice(6)).choices?.[0]?.text;
      if (text) {
        if (n === 0) ttft = performance.now() - t0;
        n++; // one chunk per token
      }
    }
  }
  return { tokens: n, ms: performance.now() - t0, ttftMs: ttft };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

type Path = (seed: number) => Promise<Sample>;

/**
 * Rounds interleave the paths (A B C, A B C, ...) so that drift on a noisy machine (other load,
 * CPU clocks, the engine warming up) falls on every path alike instead of on whichever ran first.
 */
async function measureAll(paths: Record<string, Path>) {
  const names = Object.keys(paths);
  for (const name of names) await paths[name]!(0); // warm-up
  const singles = new Map<string, Sample[]>(names.map((n) => [n, []]));
  const pairs = new Map<string, number[]>(names.map((n) => [n, []]));
  for (let r = 1; r <= ROUNDS; r++) {
    for (const name of names) singles.get(name)!.push(await paths[name]!(r));
    for (const name of names) {
      const t0 = performance.now();
      const pair = await Promise.all([paths[name]!(100 + 2 * r), paths[name]!(101 + 2 * r)]);
      pairs.get(name)!.push(((pair[0]!.tokens + pair[1]!.tokens) / (performance.now() - t0)) * 1000);
    }
  }
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const s = singles.get(name)!;
    out[name] = {
      tokens_per_s: Math.round(median(s.map((x) => (x.tokens / x.ms) * 1000))),
      ttft_ms_median: +median(s.map((x) => x.ttftMs)).toFixed(2),
      concurrent_2_tokens_per_s: Math.round(median(pairs.get(name)!)),
    };
    console.log(`${name.padEnd(13)} ${JSON.stringify(out[name])}`);
  }
  return out;
}

const results: Record<string, unknown> = {};
try {
  await waitHealthy(base, { intervalMs: 50, exited: engineProc.exited.then((code) => ({ code, signal: null })) });
  const cluster = await startCluster({ nodes: [{ id: "n1", pools: [] }], node: { handoff: { intervalMs: 50 } } });
  try {
    const dir = join(cluster.runtimeDirs.get("n1")!, "engines");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "tiny-r0.json"), JSON.stringify({ engine: "llamacpp", url: base, pool_id: "tiny", replica_id: "r0", model: { id: "tiny" }, slots_total: 2 }));
    await waitForNodes(cluster, (n) => poolOf(n, "n1", "tiny")?.ready === true);
    Object.assign(results, await measureAll({ direct, orchestrator: (seed) => viaTasks(cluster.url, seed), openai: (seed) => viaOpenAi(cluster.url, seed) }));
  } finally {
    await cluster.close();
  }
} finally {
  await stopGroup(engineProc.pid, { graceMs: 2000 });
}

const out = { when: new Date().toISOString(), bun: Bun.version, cpus: availableParallelism(), model: "tiny (engines/tiny-model/tiny-gguf.ts)", engine: "built-in, 1 thread, 2 slots, CPU", tokens_per_stream: TOKENS, rounds: ROUNDS, results };
mkdirSync(join(import.meta.dir, "results"), { recursive: true });
writeFileSync(join(import.meta.dir, "results", "inference-latest.json"), `${JSON.stringify(out, null, 2)}\n`);
console.log("written to bench/results/inference-latest.json");
