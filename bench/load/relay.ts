// Phase 2, relay: S concurrent streams of T tokens each, through four paths side by side, rounds
// interleaved (each round starts at the next path, so drift falls on every path alike):
//   engine   the bench's engine server directly (POST /v1/completions, stream:true)
//   proxy    a minimal Bun proxy in front of it that parses and re-serialises every SSE event
//   v1       the control plane's /v1/completions (stream:true), node pool `engine: openai` → engine
//   v2       POST /v2/tasks + GET /v2/tasks/{id}/events on the same cluster
// Per path: tokens/s delivered (all tokens / time from the first request to the last end), CPU µs
// per token of each process in the path (/proc utime+stime), TTFT p50/p99 over every stream of
// every round, and the TTFT added to the engine's own. After the rounds: the state store's size
// on disk (every v1 and v2 stream is stored as it runs, and its transcript at its end).
// The rounds' TTFT is mostly queueing behind the other streams started at the same instant, so
// then, with the same processes: idle-path TTFT, N sequential single streams of a few tokens per
// path, interleaved stream by stream (gen-ttft.ts), nothing else in flight; per path p50/p99/max,
// and the TTFT added to the engine's (difference of the percentiles, and the median of the
// per-round differences: each round has one stream per path, close together in time).

import { cpuSnapshot } from "./procs.ts";
import { MAX_HTTP_REQUESTS, runStreamGen, runTtftGen, startCluster, startServer, storeSnapshot, type Cluster, type StoreSnapshot, type StreamGenResult } from "./services.ts";
import { addCounts, latencySummary, median, pct, r0, r3, type LatencySummary } from "./stats.ts";
import type { Params } from "./params.ts";

export const RELAY_PATHS = ["engine", "proxy", "v1", "v2"] as const;
type Path = (typeof RELAY_PATHS)[number];
const IN_PATH: Record<Path, string[]> = { engine: ["engine"], proxy: ["engine", "proxy"], v1: ["engine", "node", "control"], v2: ["engine", "node", "control"] };

export interface RelayPathResult {
  path: Path;
  processes: string[];
  tokens_per_s_rounds: number[];
  tokens_per_s_median: number;
  tokens_total: number;
  cpu_us_per_token: Record<string, number>; // processes in the path, and the generator
  cpu_us_per_token_idle_processes: Record<string, number>; // the others, idling meanwhile (a check)
  ttft: LatencySummary;
  added_ttft_ms?: { p50: number; p99: number };
  outcomes: Record<string, number>;
}

export interface IdleTtftPathResult {
  path: Path;
  /** Streams that ended ok (the TTFT samples); `requests` were sent. */
  n: number;
  outcomes: Record<string, number>;
  ttft: LatencySummary;
  /** vs the engine directly: p50/p99 of this path minus the engine's, and the median of the per-round differences. */
  added_ms?: { p50: number; p99: number; p50_of_round_differences: number; rounds_compared: number };
  /** /v2 only: from sending POST /v2/tasks to its 202 (the SSE stream is opened then). */
  accepted?: LatencySummary;
}

export interface IdleTtftResult {
  requests: number;
  tokens: number;
  gap_ms: number;
  warmup_rounds: number;
  order: string;
  elapsed_ms: number;
  paths: IdleTtftPathResult[];
}

export interface RelayResult {
  streams: number;
  tokens: number;
  rounds: number;
  paths: RelayPathResult[];
  proxy_events: { parsed: number; expected: number };
  /** The control plane's state store after every round (its write queue emptied first). */
  store?: StoreSnapshot;
  /** After the rounds: sequential single streams per path, nothing else in flight. */
  idle_ttft?: IdleTtftResult;
}

const TTFT_WARMUP_ROUNDS = 10;

export async function runRelay(p: Params, dir: string, say: (s: string) => void): Promise<RelayResult> {
  const engine = await startServer(dir, "relay-engine", "engine-server.ts", ["--model", "bench"]);
  const proxy = await startServer(dir, "relay-proxy", "proxy.ts", ["--upstream", engine.url], { BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP_REQUESTS });
  let cluster: Cluster | undefined;
  try {
    const slots = Math.min(1024, Math.max(1, p.relayStreams));
    cluster = await startCluster(dir, "relay", [{ id: "p0", engine: "openai", model: "bench", slots, url: engine.url }], { node: { BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP_REQUESTS } });
    const c = cluster;
    const pids = { engine: engine.proc.pid, proxy: proxy.proc.pid, control: c.pids.control, node: c.pids.node };
    const spec = (path: Path, streams: number, tokens: number) => ({
      kind: path === "v2" ? ("v2" as const) : ("openai" as const),
      base: path === "engine" ? engine.url : path === "proxy" ? proxy.url : c.base,
      path: "/v1/completions",
      model: "bench",
      streams,
      tokens,
      rampMs: 0,
      stopAfterMs: 300_000,
      bucketMs: 1000,
    });

    say(`relay: warm-up, 10 streams x 100 tokens per path`);
    for (const path of RELAY_PATHS) {
      const w = await runStreamGen(dir, spec(path, 10, 100));
      if (w.result.outcomes.ok !== 10) throw new Error(`relay warm-up on ${path} failed: ${JSON.stringify(w.result.outcomes)}`);
    }

    const runs = new Map<Path, { tps: number[]; tokens: number; cpu: Record<string, number>; ttft: number[]; outcomes: Record<string, number> }>();
    for (const path of RELAY_PATHS) runs.set(path, { tps: [], tokens: 0, cpu: {}, ttft: [], outcomes: {} });
    for (let r = 0; r < p.relayRounds; r++) {
      const order = RELAY_PATHS.map((_, k) => RELAY_PATHS[(k + r) % RELAY_PATHS.length]!);
      for (const path of order) {
        const cpu = cpuSnapshot(pids);
        const g = await runStreamGen(dir, spec(path, p.relayStreams, p.relayTokens));
        const spent = cpu();
        const x: StreamGenResult = g.result;
        const acc = runs.get(path)!;
        const tps = (x.delivered * 1000) / x.last_end_ms;
        acc.tps.push(r0(tps));
        acc.tokens += x.delivered;
        for (const [k, v] of Object.entries({ ...spent, generator: g.cpu_us })) acc.cpu[k] = (acc.cpu[k] ?? 0) + v;
        acc.ttft.push(...x.ttft_ms);
        addCounts(acc.outcomes, x.outcomes);
        say(`  round ${r + 1} ${path.padEnd(6)}: ${r0(tps)} tokens/s, ${x.delivered} tokens, TTFT p50 ${r3(median(x.ttft_ms))} ms, outcomes ${JSON.stringify(x.outcomes)}`);
      }
    }
    const paths: RelayPathResult[] = RELAY_PATHS.map((path) => {
      const acc = runs.get(path)!;
      const keep = [...IN_PATH[path], "generator"];
      return {
        path,
        processes: IN_PATH[path],
        tokens_per_s_rounds: acc.tps,
        tokens_per_s_median: r0(median(acc.tps)),
        tokens_total: acc.tokens,
        cpu_us_per_token: Object.fromEntries(keep.map((k) => [k, r3((acc.cpu[k] ?? NaN) / Math.max(1, acc.tokens))])),
        cpu_us_per_token_idle_processes: Object.fromEntries(Object.keys(acc.cpu).filter((k) => !keep.includes(k)).map((k) => [k, r3(acc.cpu[k]! / Math.max(1, acc.tokens))])),
        ttft: latencySummary(acc.ttft),
        outcomes: acc.outcomes,
      };
    });
    // The proxy must have parsed every event: tokens + finish + usage + [DONE] per stream.
    const proxyStats = (await (await fetch(`${proxy.url}/stats`)).json()) as { events: number };
    const proxy_events = { parsed: proxyStats.events, expected: 10 * (100 + 3) + p.relayRounds * p.relayStreams * (p.relayTokens + 3) };
    say(`relay: the proxy parsed ${proxy_events.parsed} events (expected ${proxy_events.expected})`);
    const direct = paths[0]!.ttft;
    for (const x of paths.slice(1)) x.added_ttft_ms = { p50: r3(x.ttft.p50_ms - direct.p50_ms), p99: r3(x.ttft.p99_ms - direct.p99_ms) };
    const store = await storeSnapshot(c);
    say(`relay: store on disk ${(store.disk_bytes / 1048576).toFixed(1)} MB, ${JSON.stringify({ ...store, kind: undefined })}`);
    for (const x of paths) say(`relay ${x.path}: ${x.tokens_per_s_median} tokens/s (median), CPU µs/token ${JSON.stringify(x.cpu_us_per_token)}, TTFT p50 ${x.ttft.p50_ms} ms p99 ${x.ttft.p99_ms} ms`);

    // Idle path: the store's queue is empty (storeSnapshot waited for it); let the rounds' after-work settle.
    await Bun.sleep(1000);
    say(`relay: idle-path TTFT, ${p.ttftRequests} sequential streams x ${p.ttftTokens} tokens per path, interleaved (after ${TTFT_WARMUP_ROUNDS} warm-up rounds)`);
    const g = await runTtftGen(dir, {
      targets: RELAY_PATHS.map((path) => {
        const { kind, base, path: url } = spec(path, 1, p.ttftTokens);
        return { name: path, kind, base, path: url };
      }),
      model: "bench",
      tokens: p.ttftTokens,
      rounds: p.ttftRequests,
      warmup: TTFT_WARMUP_ROUNDS,
      gapMs: p.ttftGapMs,
      timeoutMs: 30_000,
    });
    const byPath = new Map(g.result.targets.map((t) => [t.name, t]));
    const samples = (t: { ttft_ms: (number | null)[] }) => t.ttft_ms.filter((v): v is number => v !== null);
    const engineT = byPath.get("engine")!;
    const engineSummary = latencySummary(samples(engineT));
    const idlePaths: IdleTtftPathResult[] = RELAY_PATHS.map((path) => {
      const t = byPath.get(path)!;
      const ttft = latencySummary(samples(t));
      const x: IdleTtftPathResult = { path, n: ttft.n, outcomes: t.outcomes, ttft };
      if (path !== "engine") {
        const diffs: number[] = [];
        for (let r = 0; r < g.result.rounds; r++) {
          const a = t.ttft_ms[r];
          const e = engineT.ttft_ms[r];
          if (a !== null && a !== undefined && e !== null && e !== undefined) diffs.push(a - e);
        }
        const sorted = Float64Array.from(diffs).sort();
        x.added_ms = { p50: r3(ttft.p50_ms - engineSummary.p50_ms), p99: r3(ttft.p99_ms - engineSummary.p99_ms), p50_of_round_differences: r3(pct(sorted, 0.5)), rounds_compared: diffs.length };
      }
      if (t.accepted_ms) x.accepted = latencySummary(t.accepted_ms.filter((v): v is number => v !== null));
      if (ttft.n !== p.ttftRequests) say(`relay idle TTFT ${path}: only ${ttft.n} of ${p.ttftRequests} streams ended ok: ${JSON.stringify(t.outcomes)}`);
      say(`relay idle TTFT ${path.padEnd(6)}: p50 ${ttft.p50_ms} ms, p99 ${ttft.p99_ms} ms, max ${ttft.max_ms} ms${x.added_ms ? `, added p50 ${x.added_ms.p50} ms p99 ${x.added_ms.p99} ms (median of round differences ${x.added_ms.p50_of_round_differences} ms)` : ""}`);
      return x;
    });
    const idle_ttft: IdleTtftResult = {
      requests: p.ttftRequests,
      tokens: p.ttftTokens,
      gap_ms: p.ttftGapMs,
      warmup_rounds: TTFT_WARMUP_ROUNDS,
      order: `round r: one stream per path, one at a time, starting at path r mod ${RELAY_PATHS.length} of ${RELAY_PATHS.join(", ")}`,
      elapsed_ms: r0(g.result.elapsed_ms),
      paths: idlePaths,
    };
    say(`relay: idle-path TTFT took ${(g.wall_ms / 1000).toFixed(1)} s`);
    return { streams: p.relayStreams, tokens: p.relayTokens, rounds: p.relayRounds, paths, proxy_events, store, idle_ttft };
  } finally {
    await cluster?.stop();
    await proxy.proc.stop();
    await engine.proc.stop();
  }
}
