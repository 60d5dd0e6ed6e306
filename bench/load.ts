// `bun run bench:load`: the control plane under production load, measured with REAL processes
// (`bun actors/control/main.ts`, `bun actors/node/main.ts`, with a generated pools file in a temp
// dir, on free ports) and load generators in processes of their own, side by side in one run:
//   1. admission  a bare Bun.serve floor vs POST /v2/tasks (1-token tasks, mock pool of 1024
//                 slots): full speed, paced open loop at fixed rates, CPU and log bytes per task,
//                 transcripts stored vs lost, 503s of a state store that is behind, the store's
//                 size on disk, and whether admitted tasks reached their end
//   2. relay      the bench's engine server directly vs a minimal proxy vs /v1/completions vs
//                 /v2/tasks + SSE: tokens/s, CPU µs per token per process, TTFT under load,
//                 then TTFT on an idle path (sequential single streams, paths interleaved)
//   3. scale      10,000 open streams, 2,000 × 2,000-token streams, 2,000 × 50 tokens/s paced:
//                 peak control RSS, completion, delivered ÷ offered tokens/s
// Every process it starts is stopped (process groups), also on failure and Ctrl-C. Each control
// plane keeps its state store in the temp dir (ORCHD_STATE_DIR=<temp>/<name>-state), removed at the end.
// Usage: bun run bench:load [--quick] [--only admission|relay|scale] [--<param> N ...] (--help lists them)
// Results: bench/results/load-latest.json, and the markdown table on stdout.

import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { runAdmission, type AdmissionResult } from "./load/admission.ts";
import { readParams } from "./load/params.ts";
import { CLK_TCK, fdLimits, installCleanup, ROOT, stopAll } from "./load/procs.ts";
import { runRelay, type RelayResult } from "./load/relay.ts";
import { runScale, type ScaleTest } from "./load/scale.ts";
import { renderTables, type Env } from "./load/table.ts";
import { setCodeRoot } from "./load/services.ts";

const params = readParams();
const started = performance.now();
const dir = mkdtempSync(join(tmpdir(), "llorch-load-"));
installCleanup(() => rmSync(dir, { recursive: true, force: true }));
const say = (s: string) => console.error(`[${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${s}`);

const tempFs = Bun.spawnSync(["df", "-T", dir]).stdout.toString().trim().split("\n")[1]?.split(/\s+/)[1] ?? "unknown";
const git = (...args: string[]) => Bun.spawnSync(["git", "--no-optional-locks", ...args], { cwd: ROOT }).stdout.toString().trim();
let code = { tree: "working tree", commit: git("rev-parse", "--short", "HEAD") };
if (params.codeRef) {
  // Read-only export of a commit's tree (git archive), with this checkout's node_modules.
  const codeDir = join(dir, "code");
  mkdirSync(codeDir);
  const commit = git("rev-parse", "--short", `${params.codeRef}^{commit}`);
  if (!commit) throw new Error(`--code-ref: '${params.codeRef}' names no commit`);
  const r = Bun.spawnSync(["sh", "-c", `git --no-optional-locks archive --format=tar ${commit} | tar -x -C '${codeDir}'`], { cwd: ROOT });
  if (r.exitCode !== 0) throw new Error(`git archive ${commit} failed: ${r.stderr.toString()}`);
  symlinkSync(join(ROOT, "node_modules"), join(codeDir, "node_modules"));
  setCodeRoot(codeDir);
  code = { tree: `commit ${commit} (git archive)`, commit };
}
const env: Env = {
  date: new Date().toISOString(),
  bun: Bun.version,
  cpus: availableParallelism(),
  clk_tck: CLK_TCK,
  fd_limits: fdLimits(),
  temp_fs: tempFs,
  code: { ...code, head: git("rev-parse", "--short", "HEAD"), changed_files_in_working_tree: git("status", "--porcelain").split("\n").filter(Boolean).length },
};
say(`load bench: Bun ${env.bun}, ${env.cpus} CPUs, fd limit ${env.fd_limits.soft}/${env.fd_limits.hard}, temp dir ${dir} (${tempFs}), code: ${env.code.tree} at ${env.code.commit}${params.quick ? ", quick" : ""}`);

type Failed = { error: string };
const results: { admission?: AdmissionResult | Failed; relay?: RelayResult | Failed; scale?: { fd_limits: { soft: number; hard: number }; tests: ScaleTest[] } | Failed } = {};
const phaseSeconds: Record<string, number> = {};

/** A phase that fails is recorded with its reason; the others still run. */
async function phase<T>(name: "admission" | "relay" | "scale", run: () => Promise<T>): Promise<void> {
  if (!params.only.includes(name)) return;
  const t0 = performance.now();
  try {
    (results as Record<string, unknown>)[name] = await run();
  } catch (error) {
    const message = (error as Error).message.split("\n").slice(0, 3).join(" ").slice(0, 500);
    say(`${name} failed: ${message}`);
    (results as Record<string, unknown>)[name] = { error: message };
  } finally {
    await stopAll(); // anything the phase left running
    phaseSeconds[name] = Math.round((performance.now() - t0) / 1000);
  }
}

try {
  await phase("admission", () => runAdmission(params, dir, say));
  await phase("relay", () => runRelay(params, dir, say));
  await phase("scale", () => runScale(params, dir, say));
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}

const table = renderTables(env, params, results);
const record = {
  ...env,
  command: `bun run bench:load${Bun.argv.length > 2 ? ` ${Bun.argv.slice(2).join(" ")}` : ""}`,
  duration_s: Math.round((performance.now() - started) / 1000),
  phase_seconds: phaseSeconds,
  params,
  notes: {
    cpu: `utime+stime from /proc/<pid>/stat (all threads), ${1e6 / CLK_TCK} µs resolution per reading`,
    latency: "percentiles by nearest rank over every request / stream of the runs named",
    node_env: "the node (and proxy, generators) run with BUN_CONFIG_MAX_HTTP_REQUESTS=65535: without it Bun's fetch keeps at most 256 requests in flight per process, so a node could not hold more than 256 engine streams",
    scale_queue: `the scale phase runs the control plane with ORCHD_ADMISSION_CAPACITY=${params.scaleQueueCapacity}; admission and relay use the defaults (256)`,
  },
  results,
  table,
};
const outDir = join(import.meta.dir, "results");
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "load-latest.json"), `${JSON.stringify(record, null, 2)}\n`);
console.log(table);
say(`done in ${record.duration_s} s; written to bench/results/load-latest.json`);
process.exit(0);
