// Phase 1, admission: the floor (bare Bun.serve: parse JSON, answer 202) against POST /v2/tasks on
// the control plane (full lifecycle: 1-token tasks on a node pool of the in-process mock engine
// with 1024 slots, no token delay), side by side in one run, interleaved round by round:
//   (a) closed loop, N keep-alive connections: req/s, p50/p99, statuses, req/s per bucket
//   (b) open loop on a fixed timetable at each rate: p50/p99/max from the scheduled time, statuses
//   (c) per control run: CPU µs per task of control and node (/proc utime+stime), log bytes per
//       task (their stderr), 503s of a state store that is behind (store_backpressure_total),
//       transcripts stored vs lost (store_writes_total{kind="transcript"}, transcripts_lost_total;
//       on a commit without them: the `<id>.json` files and the "Could not store a task
//       transcript" log lines), the store's size on disk, and whether sampled admitted tasks ended

import { cpuSnapshot, statusKb } from "./procs.ts";
import { checkEnds, controlTotals, LogCounter, runRequestGen, startCluster, startServer, storedTranscripts, storeSnapshot, type Cluster, type RequestGenResult, type StoreSnapshot } from "./services.ts";
import { latenciesWithStatus, latencySummary, r0, r1, ratePerWindow, readRecords, type LatencySummary } from "./stats.ts";
import { rateList, type Params } from "./params.ts";

const BODY = JSON.stringify({ model_ref: "tiny", prompt: "hi", max_tokens: 1 });

export interface TargetRun {
  target: "floor" | "control";
  mode: "closed" | "open";
  round?: number;
  rate?: number;
  seconds: number;
  requests: number;
  req_per_s: number;
  latency: LatencySummary; // every request, whatever its answer (unanswered ones with their wait so far)
  latency_202: LatencySummary; // the admitted ones only
  statuses: Record<string, number>;
  refusals: Record<string, number>; // non-202 answers by "<status> <code>[ <policy_label>]"
  errors: Record<string, number>;
  buckets_req_per_s?: number[];
  first_vs_last_req_per_s?: [number, number];
  sender_lag_ms?: RequestGenResult["sender_lag_ms"];
  connections_opened: number;
  cpu_us_per_request: Record<string, number>; // floor | control, node, and the generator
  log_bytes_per_task?: { control: number; node: number };
  tasks?: TaskAccounting;
}

export interface TaskAccounting {
  admitted_202: number; // 202s the generator got
  refused_503: number; // 503s the generator got (REPLICA_EXHAUSTED store.backlog: the store is behind)
  store_backpressure?: number; // store_backpressure_total over the run (absent before the state store)
  enqueued: number; // tasks the control plane admitted (tasks_enqueued_total), the per-task denominator

  completed: number;
  settled_after_ms: number;
  transcripts_stored: number;
  transcripts_lost: number;
  /** metrics: store_writes_total{kind="transcript"} and transcripts_lost_total; files: `<id>.json` files and log lines (a commit before the state store). */
  transcripts_counted_by: "metrics" | "files and log lines";
  store_writes?: Record<string, number>; // store_writes_total by kind over the run
  store_write_errors?: number;
  store_after: StoreSnapshot; // the store after the run (its size on disk is cumulative)
  sampled_ends: Record<string, number>; // sampled admitted ids, by how their replayed stream ended
  sampled_transcripts: Record<string, number>; // the same ids: transcript found through GET /v2/artifacts?
  cpu_us_per_admitted_task: Record<string, number>;
  log_lines: { control: Record<string, number>; node: Record<string, number> }; // by level
  warnings: Record<string, number>;
}

export interface AdmissionResult {
  full_speed: TargetRun[];
  paced: TargetRun[];
  peak_rss_mb: Record<string, number>;
}

export async function runAdmission(p: Params, dir: string, say: (s: string) => void): Promise<AdmissionResult> {
  const floor = await startServer(dir, "floor", "floor.ts", []);
  let cluster: Cluster | undefined;
  try {
    const pools = [{ id: "p0", engine: "mock" as const, model: "tiny", slots: 1024 }];
    cluster = await startCluster(dir, "admission", pools);
    let c = cluster;
    const port = (base: string) => Number(new URL(base).port);
    const targets = {
      floor: { port: floor.port, pids: { floor: floor.proc.pid } as Record<string, number> },
      control: { port: port(c.base), pids: c.pids as Record<string, number> },
    };

    const run = async (target: "floor" | "control", mode: "closed" | "open", seconds: number, rate: number, extra: Partial<TargetRun>): Promise<TargetRun> => {
      const t = targets[target];
      const before =
        target === "control"
          ? { totals: await controlTotals(c.base), stored: storedTranscripts(c.artifactsDir), logC: c.control.logBytes(), logN: c.node.logBytes(), controlLog: new LogCounter(c.control), nodeLog: new LogCounter(c.node) }
          : undefined;
      const cpu = cpuSnapshot(t.pids);
      const gen = await runRequestGen(dir, {
        mode,
        host: "127.0.0.1",
        port: t.port,
        path: "/v2/tasks",
        body: BODY,
        durationS: seconds,
        connections: mode === "closed" ? p.connections : Math.min(64, p.maxConnections),
        rate,
        maxConnections: p.maxConnections,
        drainS: p.drainSeconds,
        sampleMax: target === "control" ? p.sampleIds : 0,
      });
      const g = gen.result;
      const admitted = g.statuses["202"] ?? 0;
      let tasks: TaskAccounting | undefined;
      let logBytes: TargetRun["log_bytes_per_task"];
      if (before) {
        // Let every admitted task end and its transcript be committed (or counted lost), so the
        // CPU it costs is counted here and not in the next run. The state store commits every
        // transcript before the task's last event and never drops one: wait for the tasks to end
        // and its write queue to empty. A commit with the file store awaited a put for at most
        // 2 s, then logged "Could not store a task transcript" and let it expire unwritten.
        const t0 = performance.now();
        let after = await controlTotals(c.base);
        const byMetrics = after.transcripts_stored !== undefined && after.transcripts_lost !== undefined;
        const stored = (a: typeof after) => (byMetrics ? a.transcripts_stored! - before.totals.transcripts_stored! : storedTranscripts(c.artifactsDir) - before.stored);
        const lost = (a: typeof after) => (byMetrics ? a.transcripts_lost! - before.totals.transcripts_lost! : before.controlLog.update().lost_transcripts);
        let last = "";
        let stableSince = performance.now();
        for (;;) {
          const st = stored(after);
          const lo = lost(after);
          const enq = after.enqueued - before.totals.enqueued;
          const state = `${st}/${lo}/${after.completed}/${after.store_queue_depth ?? 0}`;
          if (state !== last) (last = state), (stableSince = performance.now());
          const ended = after.completed - before.totals.completed >= enq;
          const stable = performance.now() - stableSince;
          const queueEmpty = (after.store_queue_depth ?? 0) === 0;
          // File store: a put that was already running when its 2 s ran out is logged as lost
          // and still lands, so "stored + lost" may exceed the tasks: wait for the counts to
          // stand still (stable for 2.5 s, beyond the 2 s a put was awaited, also ends it).
          const settled = byMetrics ? ended && queueEmpty && (st + lo >= enq || stable >= 2500) : ended && ((st + lo >= enq && stable >= 1000) || stable >= 2500);
          if (settled || performance.now() - t0 > 30_000) break;
          await Bun.sleep(byMetrics ? 100 : 250);
          after = await controlTotals(c.base);
        }
        const settled = performance.now() - t0;
        const cl = before.controlLog.update();
        const nl = before.nodeLog.update();
        const enqueued = after.enqueued - before.totals.enqueued;
        const delta = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a - b);
        logBytes = { control: r1((c.control.logBytes() - before.logC) / Math.max(1, enqueued)), node: r1((c.node.logBytes() - before.logN) / Math.max(1, enqueued)) };
        tasks = {
          admitted_202: admitted,
          refused_503: g.statuses["503"] ?? 0,
          store_backpressure: delta(after.store_backpressure, before.totals.store_backpressure),
          enqueued,
          completed: after.completed - before.totals.completed,
          settled_after_ms: r0(settled),
          transcripts_stored: stored(after),
          transcripts_lost: byMetrics ? lost(after) : cl.lost_transcripts,
          transcripts_counted_by: byMetrics ? "metrics" : "files and log lines",
          store_writes: after.store_writes && Object.fromEntries(Object.entries(after.store_writes).map(([k, v]) => [k, v - (before.totals.store_writes?.[k] ?? 0)])),
          store_write_errors: delta(after.store_write_errors, before.totals.store_write_errors),
          store_after: await storeSnapshot(c, 0),
          sampled_ends: {},
          sampled_transcripts: {},
          cpu_us_per_admitted_task: {},
          log_lines: { control: cl.levels, node: nl.levels },
          warnings: { ...cl.warnings, ...Object.fromEntries(Object.entries(nl.warnings).map(([k, v]) => [`node: ${k}`, v])) },
        };
      }
      const spent = cpu();
      if (tasks) tasks.cpu_us_per_admitted_task = Object.fromEntries(Object.entries(spent).map(([k, v]) => [k, r1(v / Math.max(1, tasks!.enqueued))]));
      if (tasks) {
        const check = await checkEnds(c.base, g.samples.map((s) => s.id));
        tasks.sampled_ends = check.ends;
        tasks.sampled_transcripts = check.transcripts;
      }
      const rec = readRecords(gen.bin);
      const span = mode === "closed" ? g.elapsed_ms : seconds * 1000;
      const buckets = mode === "closed" ? ratePerWindow(rec.done, p.bucketSeconds * 1000, span) : undefined;
      const per = (us: number) => r1(us / Math.max(1, g.completed));
      const out: TargetRun = {
        target,
        mode,
        seconds,
        ...extra,
        requests: g.completed,
        req_per_s: r0((g.completed * 1000) / g.elapsed_ms),
        latency: latencySummary(rec.latency),
        latency_202: latencySummary(latenciesWithStatus(rec, 202)),
        statuses: g.statuses,
        refusals: g.refusals ?? {},
        errors: g.errors,
        buckets_req_per_s: buckets,
        first_vs_last_req_per_s: buckets && buckets.length >= 2 ? [buckets[0]!, buckets[buckets.length - 1]!] : undefined,
        sender_lag_ms: g.sender_lag_ms,
        connections_opened: g.connections_opened,
        cpu_us_per_request: { ...Object.fromEntries(Object.entries(spent).map(([k, v]) => [k, per(v)])), generator: per(gen.cpu_us) },
        log_bytes_per_task: logBytes,
        tasks,
      };
      say(
        `  ${target.padEnd(7)} ${mode === "closed" ? `round ${extra.round}` : `${rate}/s`}: ${out.req_per_s} req/s, p50 ${out.latency.p50_ms} ms, p99 ${out.latency.p99_ms} ms, ` +
          `statuses ${JSON.stringify(out.statuses)}${Object.keys(out.refusals).length ? ` refusals ${JSON.stringify(out.refusals)}` : ""}${Object.keys(out.errors).length ? ` errors ${JSON.stringify(out.errors)}` : ""}${out.sender_lag_ms ? ` sender lag p99 ${out.sender_lag_ms.p99} ms` : ""}${buckets ? `, buckets ${buckets.join("/")}` : ""}, cpu µs/req ${JSON.stringify(out.cpu_us_per_request)}` +
          (tasks ? `, completed ${tasks.completed}/${tasks.enqueued}, transcripts ${tasks.transcripts_stored} stored / ${tasks.transcripts_lost} lost (${tasks.transcripts_counted_by}), 503s ${tasks.refused_503} (store_backpressure_total ${tasks.store_backpressure ?? "absent"}), store on disk ${r1(tasks.store_after.disk_bytes / 1048576)} MB, sampled: ends ${JSON.stringify(tasks.sampled_ends)} transcripts ${JSON.stringify(tasks.sampled_transcripts)}` : ""),
      );
      return out;
    };

    say(`admission: warm-up ${p.warmupSeconds} s each`);
    await run("floor", "closed", p.warmupSeconds, 0, { round: 0 });
    await run("control", "closed", p.warmupSeconds, 0, { round: 0 });

    const full_speed: TargetRun[] = [];
    for (let r = 1; r <= p.admissionRounds; r++) {
      say(`admission (a) round ${r}: floor ${p.floorSeconds} s, control ${p.controlSeconds} s, ${p.connections} connections`);
      full_speed.push(await run("floor", "closed", p.floorSeconds, 0, { round: r }));
      full_speed.push(await run("control", "closed", p.controlSeconds, 0, { round: r }));
    }
    const mb = (pid: number) => r1(statusKb(pid, "VmHWM") / 1024);
    const peak_rss_mb: Record<string, number> = { control_full_speed: mb(c.control.pid), node_full_speed: mb(c.node.pid) };

    // The paced runs get a fresh control plane and node: the full-speed runs leave some 100,000s
    // of ended tasks retained (60 s each) whose memory and expiry would weigh on them.
    await cluster.stop();
    cluster = c = await startCluster(dir, "admission-paced", pools);
    targets.control = { port: port(c.base), pids: c.pids };
    const rates = rateList(p);
    say(`admission (b): fresh control plane and node; warm-up ${p.warmupSeconds} s at ${rates[0]}/s`);
    await run("control", "open", p.warmupSeconds, rates[0] ?? 1000, { rate: rates[0] });
    const paced: TargetRun[] = [];
    for (const rate of rates) {
      say(`admission (b) paced ${rate}/s for ${p.pacedSeconds} s`);
      paced.push(await run("floor", "open", p.pacedSeconds, rate, { rate }));
      paced.push(await run("control", "open", p.pacedSeconds, rate, { rate }));
    }
    Object.assign(peak_rss_mb, { control_paced: mb(c.control.pid), node_paced: mb(c.node.pid), floor: mb(floor.proc.pid) });
    say(`admission: peak RSS MB ${JSON.stringify(peak_rss_mb)}`);
    return { full_speed, paced, peak_rss_mb };
  } finally {
    await cluster?.stop();
    await floor.proc.stop();
  }
}
