// Streaming overhead of the orchestrator, measured side by side in one run:
//   direct     — the mock engine's stream iterated in-process (no orchestrator)
//   in-process — HTTP submit + SSE through control plane + node over the in-memory transport
//   processes  — the same through `bun run control` + `bun run node` over WebSocket
// The mock engine has no per-token delay, so this measures the orchestrator's own cost per token.
// Usage: bun run bench [--tokens N] [--streams N]   (results: bench/results/stream-latest.json)

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { RealClock } from "../runtime/index.ts";
import { MockEngine } from "../adapters/engines/index.ts";
import { mockPool, startCluster } from "../tests/harness/cluster.ts";
import { spawnService } from "../tests/harness/process.ts";
import { openSse, submitTask } from "../tests/harness/sse.ts";

const { values } = parseArgs({ options: { tokens: { type: "string", default: "2000" }, streams: { type: "string", default: "8" } } });
const TOKENS = Number(values.tokens);
const STREAMS = Number(values.streams);
const ROUNDS = 3;

interface Sample {
  tokens: number;
  ms: number;
  ttftMs: number;
}

async function direct(): Promise<Sample> {
  const engine = new MockEngine({ clock: new RealClock() });
  const t0 = performance.now();
  let ttft = 0;
  let n = 0;
  for await (const ev of engine.submit({ task_id: crypto.randomUUID(), prompt: "bench", max_tokens: TOKENS }, new AbortController().signal)) {
    if (ev.type === "token" && n++ === 0) ttft = performance.now() - t0;
  }
  return { tokens: n, ms: performance.now() - t0, ttftMs: ttft };
}

async function viaHttp(base: string, prompt: string): Promise<Sample> {
  const t0 = performance.now();
  const a = await submitTask(base, { model_ref: "tiny", prompt, max_tokens: TOKENS });
  if (a.status !== 202) throw new Error(`submit failed: ${a.status} ${JSON.stringify(a.json)}`);
  const sse = await openSse(`${base}${a.json.streams.sse}`);
  let ttft = 0;
  let n = 0;
  for await (const f of sse.frames) if (f.event === "token" && n++ === 0) ttft = performance.now() - t0;
  return { tokens: n, ms: performance.now() - t0, ttftMs: ttft };
}

async function concurrent(run: (k: number) => Promise<Sample>): Promise<{ tokens: number; ms: number }> {
  const t0 = performance.now();
  const all = await Promise.all(Array.from({ length: STREAMS }, (_, k) => run(k)));
  return { tokens: all.reduce((s, x) => s + x.tokens, 0), ms: performance.now() - t0 };
}

function summarize(samples: Sample[]) {
  const best = samples.reduce((a, b) => (a.tokens / a.ms > b.tokens / b.ms ? a : b));
  const ttfts = samples.map((s) => s.ttftMs).sort((a, b) => a - b);
  return { tokens_per_s: Math.round((best.tokens / best.ms) * 1000), ttft_ms_median: +ttfts[Math.floor(ttfts.length / 2)]!.toFixed(2) };
}

async function measure(label: string, one: () => Promise<Sample>, many: () => Promise<{ tokens: number; ms: number }>) {
  await one(); // warm-up
  const singles: Sample[] = [];
  for (let r = 0; r < ROUNDS; r++) singles.push(await one());
  const m = await many();
  const result = { ...summarize(singles), concurrent_tokens_per_s: Math.round((m.tokens / m.ms) * 1000) };
  console.log(`${label.padEnd(11)} ${JSON.stringify(result)}`);
  return result;
}

const results: Record<string, unknown> = {};
results.direct = await measure("direct", direct, () => concurrent(() => direct()));

const cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { slots: STREAMS })] }] });
try {
  await cluster.ready();
  results.in_process = await measure("in-process", () => viaHttp(cluster.url, "bench"), () => concurrent((k) => viaHttp(cluster.url, `bench ${k}`)));
} finally {
  await cluster.close();
}

const dir = mkdtempSync(join(tmpdir(), "llorch-bench-"));
const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"], { LLORCH_LOG_LEVEL: "info" });
let node: ReturnType<typeof spawnService> | undefined;
try {
  const base = String((await control.waitFor((l) => l.event === "listening", "control")).url).replace(/\/$/, "");
  const cfg = join(dir, "pools.yaml");
  writeFileSync(cfg, `pools:\n  - id: p0\n    engine: mock\n    model: tiny\n    slots: ${STREAMS}\n    allow_cpu: true\n`);
  node = spawnService(["actors/node/main.ts", "--control", base, "--config", cfg, "--addr", "127.0.0.1:0", "--node-id", "n1"], { LLORCH_LOG_LEVEL: "info" });
  await node.waitFor((l) => l.msg === "Registered with the control plane", "node registered");
  results.processes = await measure("processes", () => viaHttp(base, "bench"), () => concurrent((k) => viaHttp(base, `bench ${k}`)));
} finally {
  await node?.stop();
  await control.stop();
  rmSync(dir, { recursive: true, force: true });
}

const record = {
  when: new Date().toISOString(),
  bun: Bun.version,
  cpus: navigator.hardwareConcurrency,
  tokens_per_stream: TOKENS,
  concurrent_streams: STREAMS,
  rounds: ROUNDS,
  results,
};
mkdirSync(new URL("./results/", import.meta.url).pathname, { recursive: true });
writeFileSync(new URL("./results/stream-latest.json", import.meta.url).pathname, JSON.stringify(record, null, 2) + "\n");
console.log("written to bench/results/stream-latest.json");
