// Phase 3, scale: many streams through POST /v2/tasks + SSE, a node whose pools (`engine: openai`,
// 1024 slots each, as many as the streams need) point at the bench's engine server. Each test
// runs on a fresh control plane, so its VmHWM (peak RSS, /proc/<pid>/status) is the test's own:
//   (a) open     N concurrent streams the engine paces slowly (default 10,000 × 10 tokens over 10 s)
//   (b) big      N streams × T tokens, as fast as the path carries them (default 2,000 × 2,000)
//   (c) paced    N streams, each paced by the engine at R tokens/s: delivered ÷ offered tokens/s,
//                measured while every stream is open (default 2,000 × 50/s = 100k offered)
// A test the file-descriptor limit cannot hold is skipped with the reason.

import { cpuSnapshot, fdLimits, statusKb } from "./procs.ts";
import { LogCounter, MAX_HTTP_REQUESTS, runStreamGens, startCluster, startServer, storeSnapshot, type Pool, type StoreSnapshot } from "./services.ts";
import { latencySummary, r0, r1, r3, sum, type LatencySummary } from "./stats.ts";
import type { Params } from "./params.ts";

export interface ScaleTest {
  test: "open" | "big" | "paced";
  streams: number;
  tokens_per_stream: number;
  engine_interval_ms: number;
  skipped?: string;
  outcomes?: Record<string, number>;
  all_completed?: boolean;
  peak_open_streams_client?: number;
  peak_open_streams_engine?: number;
  control_rss_mb?: { idle: number; peak: number; end: number };
  node_rss_mb?: { idle: number; peak: number };
  elapsed_s?: number;
  delivered_tokens?: number;
  tokens_per_s?: number;
  ttft?: LatencySummary;
  paced?: { window_s: [number, number]; offered_tokens_per_s: number; engine_tokens_per_s: number; delivered_tokens_per_s: number; delivered_over_offered: number };
  rss_timeline_mb?: number[];
  /** Over the generators' run: CPU µs per delivered token, and cores busy on average. */
  log?: { control: Record<string, number>; node: Record<string, number>; warnings: Record<string, number> };
  cpu?: { us_per_token: Record<string, number>; cores: Record<string, number> };
  /** The state store at the end of the test (write queue emptied first; fresh store per test). */
  store?: StoreSnapshot;
}

async function engineStats(url: string): Promise<{ tokens: number; peak_open: number } | undefined> {
  try {
    return (await (await fetch(`${url}/stats`, { signal: AbortSignal.timeout(2000) })).json()) as { tokens: number; peak_open: number };
  } catch {
    return undefined;
  }
}

async function one(p: Params, dir: string, say: (s: string) => void, t: { test: ScaleTest["test"]; streams: number; tokens: number; intervalMs: number; rampMs: number; stopAfterMs: number; clients: number; window?: [number, number] }): Promise<ScaleTest> {
  const base: ScaleTest = { test: t.test, streams: t.streams, tokens_per_stream: t.tokens, engine_interval_ms: t.intervalMs };
  // Every stream holds a socket in the control plane, the node and the engine (plus a few), and
  // up to two in a generator (its POST and its SSE) before the POST's socket is reused.
  const fd = fdLimits();
  const need = { server: t.streams + 512, client: Math.ceil((2 * t.streams) / t.clients) + 512 };
  if (fd.hard < Math.max(need.server, need.client)) {
    base.skipped = `file-descriptor limit: hard limit ${fd.hard}, ${t.test} needs about ${Math.max(need.server, need.client)} per process`;
    say(`scale ${t.test}: skipped (${base.skipped})`);
    return base;
  }
  const engine = await startServer(dir, `scale-${t.test}-engine`, "engine-server.ts", ["--model", "bench", "--interval-ms", String(t.intervalMs)]);
  const pools: Pool[] = [];
  for (let left = t.streams, k = 0; left > 0; left -= 1024, k++) pools.push({ id: `p${k}`, engine: "openai", model: "bench", slots: 1024, url: engine.url });
  const cluster = await startCluster(dir, `scale-${t.test}`, pools, {
    control: { ORCHD_ADMISSION_CAPACITY: String(p.scaleQueueCapacity) },
    // Without it Bun's fetch holds the node to 256 concurrent requests to the engine.
    node: { BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP_REQUESTS },
  });
  try {
    const idle = statusKb(cluster.control.pid, "VmRSS");
    const nodeIdle = statusKb(cluster.node.pid, "VmRSS");
    const timeline: { at: number; rss: number; tokens?: number }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = t.test === "paced" ? await engineStats(engine.url) : undefined;
        timeline.push({ at: performance.timeOrigin + performance.now(), rss: statusKb(cluster.control.pid, "VmRSS"), tokens: s?.tokens });
        await Bun.sleep(1000);
      }
    })();
    const logs = { control: new LogCounter(cluster.control), node: new LogCounter(cluster.node) };
    const cpu = cpuSnapshot({ control: cluster.control.pid, node: cluster.node.pid, engine: engine.proc.pid });
    say(`scale ${t.test}: ${t.streams} streams x ${t.tokens} tokens${t.intervalMs ? `, one every ${t.intervalMs} ms` : ", unpaced"}, ${pools.length} pools, ${t.clients} generator(s)`);
    const g = await runStreamGens(
      dir,
      { kind: "v2", base: cluster.base, path: "", model: "bench", streams: t.streams, tokens: t.tokens, rampMs: t.rampMs, stopAfterMs: t.stopAfterMs, bucketMs: 1000 },
      t.clients,
    );
    const spent = { ...cpu(), generator: g.cpu_us };
    sampling = false;
    await sampler;
    const x = g.result;
    const es = await engineStats(engine.url);
    const out: ScaleTest = {
      ...base,
      outcomes: x.outcomes,
      all_completed: (x.outcomes.ok ?? 0) === t.streams,
      peak_open_streams_client: x.peak_open,
      peak_open_streams_engine: es?.peak_open,
      control_rss_mb: { idle: r1(idle / 1024), peak: r1(statusKb(cluster.control.pid, "VmHWM") / 1024), end: r1(statusKb(cluster.control.pid, "VmRSS") / 1024) },
      node_rss_mb: { idle: r1(nodeIdle / 1024), peak: r1(statusKb(cluster.node.pid, "VmHWM") / 1024) },
      elapsed_s: r1(x.last_end_ms / 1000),
      delivered_tokens: x.delivered,
      tokens_per_s: r0((x.delivered * 1000) / x.last_end_ms),
      ttft: latencySummary(x.ttft_ms),
      rss_timeline_mb: timeline.map((s) => r1(s.rss / 1024)),
      cpu: {
        us_per_token: Object.fromEntries(Object.entries(spent).map(([k, v]) => [k, r3(v / Math.max(1, x.delivered))])),
        cores: Object.fromEntries(Object.entries(spent).map(([k, v]) => [k, r3(v / 1000 / g.wall_ms)])),
      },
    };
    out.log = { control: logs.control.update().levels, node: logs.node.update().levels, warnings: { ...logs.control.warnings, ...Object.fromEntries(Object.entries(logs.node.warnings).map(([k, v]) => [`node: ${k}`, v])) } };
    // A fast engine writes a whole stream into the socket buffers at once: its open count says nothing.
    if (!t.intervalMs) delete out.peak_open_streams_engine;
    if (t.window) {
      // The window is in generator time (seconds since its first request): every stream is open.
      const [a, b] = t.window;
      const delivered = sum(x.buckets.slice(a, b)) / (b - a);
      const at = (s: number) => x.t0_epoch_ms + s * 1000;
      const tokensAt = (ms: number) => {
        // Engine tokens at a moment, interpolated between the 1-s samples.
        const pts = timeline.filter((s) => s.tokens !== undefined);
        for (let i = 1; i < pts.length; i++) {
          const p0 = pts[i - 1]!;
          const p1 = pts[i]!;
          if (p1.at >= ms) return p0.tokens! + ((p1.tokens! - p0.tokens!) * (ms - p0.at)) / Math.max(1, p1.at - p0.at);
        }
        return NaN;
      };
      const engineRate = (tokensAt(at(b)) - tokensAt(at(a))) / (b - a);
      const offered = t.streams * (1000 / t.intervalMs);
      out.paced = { window_s: [a, b], offered_tokens_per_s: r0(offered), engine_tokens_per_s: r0(engineRate), delivered_tokens_per_s: r0(delivered), delivered_over_offered: r3(delivered / offered) };
    }
    out.store = await storeSnapshot(cluster);
    say(
      `scale ${t.test}: outcomes ${JSON.stringify(out.outcomes)}, peak open ${out.peak_open_streams_client} (engine ${out.peak_open_streams_engine}), control RSS idle ${out.control_rss_mb!.idle} MB peak ${out.control_rss_mb!.peak} MB, ` +
        `${out.tokens_per_s} tokens/s over ${out.elapsed_s} s, cores ${JSON.stringify(out.cpu!.cores)}, store on disk ${r1(out.store.disk_bytes / 1048576)} MB, store_backpressure_total ${out.store.store_backpressure ?? "absent"}${out.paced ? `, paced: ${JSON.stringify(out.paced)}` : ""}`,
    );
    return out;
  } finally {
    await cluster.stop();
    await engine.proc.stop();
  }
}

export async function runScale(p: Params, dir: string, say: (s: string) => void): Promise<{ fd_limits: { soft: number; hard: number }; tests: ScaleTest[] }> {
  const tests: ScaleTest[] = [];
  const guard = async (name: ScaleTest["test"], streams: number, tokens: number, intervalMs: number, run: () => Promise<ScaleTest>) => {
    try {
      tests.push(await run());
    } catch (error) {
      const why = (error as Error).message.split("\n")[0]!.slice(0, 300);
      say(`scale ${name}: failed: ${why}`);
      tests.push({ test: name, streams, tokens_per_stream: tokens, engine_interval_ms: intervalMs, skipped: `failed: ${why}` });
    }
  };
  await guard("open", p.openStreams, p.openTokens, p.openIntervalMs, () =>
    one(p, dir, say, { test: "open", streams: p.openStreams, tokens: p.openTokens, intervalMs: p.openIntervalMs, rampMs: p.openRampMs, stopAfterMs: p.openRampMs + p.openTokens * p.openIntervalMs + 60_000, clients: p.openClients }),
  );
  await guard("big", p.bigStreams, p.bigTokens, 0, () =>
    one(p, dir, say, { test: "big", streams: p.bigStreams, tokens: p.bigTokens, intervalMs: 0, rampMs: 0, stopAfterMs: p.bigTimeoutSeconds * 1000, clients: 1 }),
  );
  const interval = 1000 / p.pacedRate;
  // Streams long enough to stay open past the window; stopped when it is over.
  const rampS = Math.ceil(p.pacedRampMs / 1000);
  const window: [number, number] = [rampS + 1, rampS + 1 + p.pacedRunSeconds];
  const tokens = Math.ceil(p.pacedRate * (window[1] + 10));
  await guard("paced", p.pacedStreams, tokens, interval, () =>
    one(p, dir, say, { test: "paced", streams: p.pacedStreams, tokens, intervalMs: interval, rampMs: p.pacedRampMs, stopAfterMs: (window[1] + 1) * 1000, clients: 1, window }),
  );
  return { fd_limits: fdLimits(), tests };
}
