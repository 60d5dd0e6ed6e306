// The processes a phase measures and drives: the control plane and a node (`bun
// actors/control/main.ts`, `bun actors/node/main.ts`) with a generated pools file, the bench's
// engine server, proxy and floor, and the load generator processes. Plus what is read from the
// control plane after a phase: Prometheus totals, stored and lost transcripts, the state store's
// size on disk. The control plane keeps its state in SQLite under `<temp>/<name>-state`
// (ORCHD_STATE_DIR); a commit from before the state store (`--code-ref`) keeps artifact files
// under `<temp>/<name>-artifacts` instead, and is measured by those files and its log lines.

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, ROOT, spawnProc, type Proc } from "./procs.ts";
import { promSum, promValue } from "./stats.ts";
import type { RequestGenSpec } from "./gen-requests.ts";
import type { StreamGenSpec } from "./gen-streams.ts";
import type { TtftGenResult, TtftGenSpec } from "./gen-ttft.ts";

/** Lets a client hold more than Bun's default 256 concurrent fetches to one host. */
export const MAX_HTTP_REQUESTS = "65535";
const NO_TOKEN = { LLORCH_API_TOKEN: "", AUTH_TOKEN: "" };

export interface Pool {
  id: string;
  engine: "mock" | "openai";
  model: string;
  slots: number;
  url?: string;
}

export interface Cluster {
  control: Proc;
  node: Proc;
  base: string;
  /** How the measured code stores transcripts: the SQLite state store, or files (before it). */
  store: StoreKind;
  /** ORCHD_STATE_DIR (state.db, state.db-wal, state.db-shm). */
  stateDir: string;
  /** ORCH_ARTIFACTS_FS_ROOT, for a commit with the file store (`<id>.json` per artifact). */
  artifactsDir: string;
  pids: { control: number; node: number };
  stop(): Promise<void>;
}

/** The tree whose control plane and node are measured (this checkout, or an exported commit). */
let codeRoot = ROOT;
export function setCodeRoot(dir: string): void {
  codeRoot = dir;
}

export type StoreKind = "sqlite" | "files";
/** The measured tree has the state store when its control plane reads ORCHD_STATE_DIR. */
export function storeKind(): StoreKind {
  try {
    return readFileSync(join(codeRoot, "actors/control/config.ts"), "utf8").includes("ORCHD_STATE_DIR") ? "sqlite" : "files";
  } catch {
    return "files";
  }
}

export async function startCluster(dir: string, name: string, pools: Pool[], env: { control?: Record<string, string>; node?: Record<string, string> } = {}): Promise<Cluster> {
  const artifactsDir = join(dir, `${name}-artifacts`);
  const stateDir = join(dir, `${name}-state`);
  const store = storeKind();
  // The state store's code reads the old variables as one-time migration sources only: they are
  // left out for it (nothing to import); a commit with the file store gets them, and ignores
  // ORCHD_STATE_DIR. Without ORCHD_STATE_DIR the store would land in ~/.local/state.
  const storeEnv: Record<string, string> = { ORCHD_STATE_DIR: stateDir };
  if (store === "files") Object.assign(storeEnv, { ORCH_ARTIFACTS_FS_ROOT: artifactsDir, ORCHD_CATALOG_ROOT: join(dir, `${name}-catalog`) });
  else Object.assign(storeEnv, { ORCH_ARTIFACTS_FS_ROOT: "", ORCHD_CATALOG_ROOT: "" }); // none inherited from the caller either
  const cfg = join(dir, `${name}-pools.json`); // JSON is YAML: the node reads either
  writeFileSync(cfg, JSON.stringify({ pools: pools.map((p) => ({ ...p, allow_cpu: true })) }, null, 2));
  const port = freePort();
  const control = spawnProc(`${name}-control`, ["bun", ...bunFlags("BENCH_CONTROL_BUN_FLAGS"), "actors/control/main.ts", "--addr", `127.0.0.1:${port}`], {
    dir,
    cwd: codeRoot,
    env: { ...NO_TOKEN, LLORCH_LOG_LEVEL: "info", ...storeEnv, ...env.control },
  });
  await control.waitForLine('"event":"listening"');
  const base = `http://127.0.0.1:${port}`;
  const node = spawnProc(`${name}-node`, ["bun", ...bunFlags("BENCH_NODE_BUN_FLAGS"), "actors/node/main.ts", "--control", base, "--config", cfg, "--addr", "127.0.0.1:0", "--node-id", "n1", "--runtime-dir", join(dir, `${name}-runtime`)], {
    dir,
    cwd: codeRoot,
    env: { ...NO_TOKEN, LLORCH_LOG_LEVEL: "info", ...env.node },
  });
  for (const p of pools) await control.waitForLine(`Pool ${p.id} on node n1 is ready`, 60_000);
  return {
    control,
    node,
    base,
    store,
    stateDir,
    artifactsDir,
    pids: { control: control.pid, node: node.pid },
    async stop() {
      await node.stop();
      await control.stop();
    },
  };
}

/** Extra flags for bun itself (e.g. `--smol`) from an environment variable, to compare runtimes' settings. */
function bunFlags(variable: string): string[] {
  return (process.env[variable] ?? "").split(/\s+/).filter((f) => f.length > 0);
}

/** Starts one of the bench's own servers (engine, proxy, floor) on a free port. */
export async function startServer(dir: string, name: string, script: string, args: string[], env: Record<string, string> = {}): Promise<{ proc: Proc; port: number; url: string }> {
  const port = freePort();
  const proc = spawnProc(name, ["bun", join(ROOT, "bench/load", script), "--port", String(port), ...args], { dir, env });
  await proc.waitForLine('"event":"listening"');
  return { proc, port, url: `http://127.0.0.1:${port}` };
}

export interface GenRun<T> {
  result: T;
  /** CPU the generator process itself used, µs. */
  cpu_us: number;
  wall_ms: number;
}

async function runGen<T>(dir: string, name: string, script: string, spec: object, resultPath: string): Promise<GenRun<T>> {
  const t0 = performance.now();
  const p = spawnProc(name, ["bun", join(ROOT, "bench/load", script), JSON.stringify(spec)], { dir, env: { BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP_REQUESTS } });
  const code = await p.proc.exited;
  await p.stop();
  if (code !== 0) throw new Error(`${name} exited ${code}: ${p.logSince(Math.max(0, p.logBytes() - 3000))}`);
  const usage = p.proc.resourceUsage();
  return { result: JSON.parse(readFileSync(resultPath, "utf8")) as T, cpu_us: usage ? Number(usage.cpuTime.total) : NaN, wall_ms: performance.now() - t0 };
}

let seq = 0;
export interface RequestGenResult {
  mode: string;
  t0_epoch_ms: number;
  elapsed_ms: number;
  completed: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  refusals?: Record<string, number>; // non-202 answers by "<status> <code>[ <policy_label>]"
  samples: { id: string; at_ms: number }[];
  connections_opened: number;
  sender_lag_ms?: { p50: number; p99: number; max: number };
}

export async function runRequestGen(dir: string, spec: Omit<RequestGenSpec, "out">): Promise<GenRun<RequestGenResult> & { bin: string }> {
  const out = join(dir, "gen", `req-${++seq}`);
  mkdirSync(join(dir, "gen"), { recursive: true });
  const run = await runGen<RequestGenResult>(dir, `gen-req-${seq}`, "gen-requests.ts", { ...spec, out }, `${out}.json`);
  return { ...run, bin: `${out}.bin` };
}

export interface StreamGenResult {
  kind: string;
  t0_epoch_ms: number;
  elapsed_ms: number;
  streams: number;
  delivered: number;
  outcomes: Record<string, number>;
  peak_open: number;
  ttft_ms: number[];
  tokens_per_stream_min: number;
  tokens_per_stream_max: number;
  first_end_ms: number;
  last_end_ms: number;
  buckets: number[];
  open_buckets: number[];
  bucket_ms: number;
}

export async function runStreamGen(dir: string, spec: Omit<StreamGenSpec, "out">): Promise<GenRun<StreamGenResult>> {
  const out = join(dir, "gen", `streams-${++seq}.json`);
  mkdirSync(join(dir, "gen"), { recursive: true });
  return runGen<StreamGenResult>(dir, `gen-streams-${seq}`, "gen-streams.ts", { ...spec, out }, out);
}

/** Sequential single streams through several targets, interleaved (idle-path time to first token). */
export async function runTtftGen(dir: string, spec: Omit<TtftGenSpec, "out">): Promise<GenRun<TtftGenResult>> {
  const out = join(dir, "gen", `ttft-${++seq}.json`);
  mkdirSync(join(dir, "gen"), { recursive: true });
  return runGen<TtftGenResult>(dir, `gen-ttft-${seq}`, "gen-ttft.ts", { ...spec, out }, out);
}

/** Runs several stream generators at once (to spread sockets over processes) and merges them. */
export async function runStreamGens(dir: string, spec: Omit<StreamGenSpec, "out">, processes: number): Promise<GenRun<StreamGenResult>> {
  if (processes <= 1) return runStreamGen(dir, spec);
  const share = Math.ceil(spec.streams / processes);
  const runs = await Promise.all(Array.from({ length: processes }, (_, k) => runStreamGen(dir, { ...spec, streams: Math.min(share, spec.streams - k * share) })));
  const t0 = Math.min(...runs.map((r) => r.result.t0_epoch_ms));
  const shift = (r: GenRun<StreamGenResult>) => r.result.t0_epoch_ms - t0;
  const merged: StreamGenResult = { ...runs[0]!.result, streams: 0, delivered: 0, outcomes: {}, peak_open: 0, ttft_ms: [], buckets: [], open_buckets: [], t0_epoch_ms: t0 };
  for (const r of runs) {
    const x = r.result;
    merged.streams += x.streams;
    merged.delivered += x.delivered;
    for (const [k, v] of Object.entries(x.outcomes)) merged.outcomes[k] = (merged.outcomes[k] ?? 0) + v;
    merged.peak_open += x.peak_open; // an upper bound; the open_buckets sum is the sampled truth
    merged.ttft_ms.push(...x.ttft_ms);
    merged.tokens_per_stream_min = Math.min(merged.tokens_per_stream_min, x.tokens_per_stream_min);
    merged.tokens_per_stream_max = Math.max(merged.tokens_per_stream_max, x.tokens_per_stream_max);
    const off = Math.round(shift(r) / x.bucket_ms);
    x.buckets.forEach((v, i) => (merged.buckets[i + off] = (merged.buckets[i + off] ?? 0) + v));
    x.open_buckets.forEach((v, i) => (merged.open_buckets[i + off] = (merged.open_buckets[i + off] ?? 0) + v));
    merged.elapsed_ms = Math.max(merged.elapsed_ms, x.elapsed_ms + shift(r));
  }
  merged.first_end_ms = Math.min(...runs.map((r) => r.result.first_end_ms + shift(r)));
  merged.last_end_ms = Math.max(...runs.map((r) => r.result.last_end_ms + shift(r)));
  merged.peak_open = Math.max(...merged.open_buckets.map((v) => v ?? 0));
  return { result: merged, cpu_us: runs.reduce((a, r) => a + r.cpu_us, 0), wall_ms: Math.max(...runs.map((r) => r.wall_ms)) };
}

export interface ControlTotals {
  enqueued: number;
  started: number;
  completed: number;
  rejected: number;
  canceled: number;
  // The state store's series; undefined on a control plane without them (the file store).
  /** store_writes_total{kind="transcript"}: transcripts committed. */
  transcripts_stored?: number;
  /** transcripts_lost_total. */
  transcripts_lost?: number;
  /** store_backpressure_total: tasks refused with 503 REPLICA_EXHAUSTED (store.backlog). */
  store_backpressure?: number;
  /** store_write_queue_depth: writes queued, not yet committed. */
  store_queue_depth?: number;
  /** store_bytes: bytes of the stored documents and stream chunks. */
  store_bytes?: number;
  /** store_writes_total by kind; store_write_errors_total, all kinds. */
  store_writes?: Record<string, number>;
  store_write_errors?: number;
}

const STORE_WRITE_KINDS = ["artifact", "transcript", "stream", "catalog", "session"];

export async function controlTotals(base: string): Promise<ControlTotals> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const writes = Object.fromEntries(STORE_WRITE_KINDS.map((kind) => [kind, promValue(text, "store_writes_total", { kind })]).filter(([, v]) => v !== undefined)) as Record<string, number>;
  return {
    enqueued: promSum(text, "tasks_enqueued_total"),
    started: promSum(text, "tasks_started_total"),
    completed: promSum(text, "latency_decode_ms_count"),
    rejected: promSum(text, "tasks_rejected_total"),
    canceled: promSum(text, "tasks_canceled_total"),
    transcripts_stored: promValue(text, "store_writes_total", { kind: "transcript" }),
    transcripts_lost: promValue(text, "transcripts_lost_total"),
    store_backpressure: promValue(text, "store_backpressure_total"),
    store_queue_depth: promValue(text, "store_write_queue_depth"),
    store_bytes: promValue(text, "store_bytes"),
    store_writes: Object.keys(writes).length ? writes : undefined,
    store_write_errors: promValue(text, "store_write_errors_total"),
  };
}

/** Transcript artifacts on disk (one `<id>.json` per stored transcript): the file store only. */
export function storedTranscripts(artifactsDir: string): number {
  try {
    return readdirSync(artifactsDir).filter((n) => n.endsWith(".json") && !n.startsWith(".")).length;
  } catch {
    return 0;
  }
}

const fileSize = (p: string) => {
  try {
    return statSync(p).size;
  } catch {
    return 0;
  }
};

export interface StoreSnapshot {
  kind: StoreKind;
  /** What the store takes on disk: state.db + state.db-wal, or the artifact files. */
  disk_bytes: number;
  db_bytes?: number;
  wal_bytes?: number;
  shm_bytes?: number;
  files?: number;
  /** The control plane's own series at that moment (cumulative since it started). */
  store_bytes?: number;
  store_writes?: Record<string, number>;
  store_write_errors?: number;
  store_backpressure?: number;
  transcripts_lost?: number;
  queue_depth?: number;
}

/** The store's size on disk and its series, once its write queue is empty (waits up to `waitMs`). */
export async function storeSnapshot(c: Cluster, waitMs = 10_000): Promise<StoreSnapshot> {
  const t0 = performance.now();
  let t = await controlTotals(c.base);
  while ((t.store_queue_depth ?? 0) > 0 && performance.now() - t0 < waitMs) {
    await Bun.sleep(100);
    t = await controlTotals(c.base);
  }
  const series = { store_bytes: t.store_bytes, store_writes: t.store_writes, store_write_errors: t.store_write_errors, store_backpressure: t.store_backpressure, transcripts_lost: t.transcripts_lost, queue_depth: t.store_queue_depth };
  if (c.store === "sqlite" || existsSync(join(c.stateDir, "state.db"))) {
    const db = fileSize(join(c.stateDir, "state.db"));
    const wal = fileSize(join(c.stateDir, "state.db-wal"));
    return { kind: "sqlite", disk_bytes: db + wal, db_bytes: db, wal_bytes: wal, shm_bytes: fileSize(join(c.stateDir, "state.db-shm")), ...series };
  }
  let bytes = 0;
  let files = 0;
  try {
    for (const n of readdirSync(c.artifactsDir)) (bytes += fileSize(join(c.artifactsDir, n))), files++;
  } catch {}
  return { kind: "files", disk_bytes: bytes, files, ...series };
}

/**
 * Reads a process's log (stderr) incrementally from where it was created: lines per level,
 * warn/error lines by message (ids and numbers folded), and the lost-transcript lines.
 */
export class LogCounter {
  #offset: number;
  #rest = "";
  lost_transcripts = 0;
  levels: Record<string, number> = {};
  warnings: Record<string, number> = {};

  constructor(private readonly proc: Proc) {
    this.#offset = proc.logBytes();
  }

  update(): this {
    const text = this.proc.logSince(this.#offset);
    this.#offset += Buffer.byteLength(text);
    const lines = (this.#rest + text).split("\n");
    this.#rest = lines.pop() ?? "";
    for (const line of lines) {
      const level = line.match(/"level":"(\w+)"/)?.[1] ?? "other";
      this.levels[level] = (this.levels[level] ?? 0) + 1;
      if (level !== "warn" && level !== "error") continue;
      if (line.includes("Could not store a task transcript")) this.lost_transcripts++;
      const msg = (line.match(/"msg":"((?:[^"\\]|\\.)*)"/)?.[1] ?? line.slice(0, 80))
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<id>")
        .replace(/\d+/g, "N")
        .slice(0, 120);
      this.warnings[msg] = (this.warnings[msg] ?? 0) + 1;
    }
    return this;
  }
}

/**
 * Checks that sampled tasks reached their end, by replaying each one's SSE stream (a task is kept
 * 60 s after its end), and whether its transcript can be found through the API (whatever the store).
 */
export async function checkEnds(base: string, ids: string[], timeoutMs = 10_000): Promise<{ ends: Record<string, number>; transcripts: Record<string, number> }> {
  const ends: Record<string, number> = {};
  const transcripts: Record<string, number> = {};
  const one = async (id: string) => {
    let what = "no end";
    try {
      const res = await fetch(`${base}/v2/tasks/${id}/events`, { signal: AbortSignal.timeout(timeoutMs) });
      if (res.status !== 200) what = `http ${res.status}`;
      else {
        const text = `\n${await res.text()}`;
        what = text.includes("\nevent: end\n") ? "end" : text.includes("\nevent: error\n") ? `error ${text.match(/"code":"([^"]+)"/)?.[1]}` : "no end";
      }
    } catch (error) {
      what = `failed: ${(error as Error).name}`;
    }
    ends[what] = (ends[what] ?? 0) + 1;
    let t = "not found";
    try {
      const res = await fetch(`${base}/v2/artifacts?tag=${encodeURIComponent(`task:${id}`)}&kind=trace&limit=1`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await res.json()) as { count?: number };
      if (res.status !== 200) t = `http ${res.status}`;
      else if ((body.count ?? 0) > 0) t = "stored";
    } catch (error) {
      t = `failed: ${(error as Error).name}`;
    }
    transcripts[t] = (transcripts[t] ?? 0) + 1;
  };
  for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map(one));
  return { ends, transcripts };
}
