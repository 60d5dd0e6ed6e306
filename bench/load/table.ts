// The markdown tables the load bench prints (and docs/benchmarks.md quotes).

import type { AdmissionResult, TargetRun } from "./admission.ts";
import type { RelayResult } from "./relay.ts";
import type { ScaleTest } from "./scale.ts";
import type { Params } from "./params.ts";
import type { StoreSnapshot } from "./services.ts";
import { fmt } from "./stats.ts";

export interface Env {
  date: string;
  bun: string;
  cpus: number;
  clk_tck: number;
  fd_limits: { soft: number; hard: number };
  temp_fs: string;
  code: { tree: string; commit: string; head: string; changed_files_in_working_tree: number };
}

const ms = (x: number) => (x >= 100 ? fmt(x, 0) : x >= 10 ? fmt(x, 1) : fmt(x, 2));
const statuses = (s: Record<string, number>) =>
  Object.entries(s)
    .map(([k, v]) => `${k === "0" ? "no answer" : k}: ${fmt(v)}`)
    .join(", ");
/** Statuses, a 503 named by what refused it (`503 store.backlog`: the state store is behind, a retriable refusal). */
const answers = (t: TargetRun) =>
  Object.entries(t.statuses)
    .map(([k, v]) => {
      if (k === "0") return `no answer: ${fmt(v)}`;
      if (k !== "503") return `${k}: ${fmt(v)}`;
      const why = Object.entries(t.refusals ?? {})
        .filter(([r]) => r.startsWith("503 "))
        .map(([r, n]) => `${r.split(" ").slice(2).join(" ") || r.split(" ")[1]} ${fmt(n)}`);
      return `503: ${fmt(v)}${why.length ? ` (${why.join(", ")})` : ""}`;
    })
    .join(", ");
const mb = (bytes: number | undefined) => (bytes === undefined ? "n/a" : fmt(bytes / 1048576, bytes < 10 * 1048576 ? 1 : 0));
/** The state store on disk: "12 MB (db 8.0 + WAL 4.0)" (state.db + state.db-wal), or the artifact files of a file store. */
export const storeDisk = (s: StoreSnapshot | undefined) =>
  !s ? "–" : s.kind === "sqlite" ? `${mb(s.disk_bytes)} MB (db ${mb(s.db_bytes)} + WAL ${mb(s.wal_bytes)})` : `${mb(s.disk_bytes)} MB (${fmt(s.files)} files)`;
const cpuOf = (c: Record<string, number>, keys: string[]) => keys.map((k) => `${k} ${fmt(c[k], c[k]! < 10 ? 1 : 0)}`).join(", ");
const targetName = (t: TargetRun) => (t.target === "floor" ? "floor (bare Bun.serve)" : "control `POST /v2/tasks`");

function admissionTables(p: Params, a: AdmissionResult): string[] {
  const out: string[] = [];
  out.push(`### Admission at full speed: ${p.connections} keep-alive connections (closed loop), ${p.admissionRounds} rounds of floor ${p.floorSeconds} s then control ${p.controlSeconds} s`, "");
  out.push(`| target | round | req/s | p50 ms | p99 ms | statuses | req/s per ${p.bucketSeconds} s (first → last) | CPU µs per request | log bytes per task (control / node) |`, "|---|---|---|---|---|---|---|---|---|");
  for (const t of a.full_speed) {
    const keys = t.target === "floor" ? ["floor"] : ["control", "node"];
    out.push(
      `| ${targetName(t)} | ${t.round} | ${fmt(t.req_per_s)} | ${ms(t.latency.p50_ms)} | ${ms(t.latency.p99_ms)} | ${answers(t)} | ${(t.buckets_req_per_s ?? []).map((x) => fmt(x)).join(" → ")} | ${cpuOf(t.cpu_us_per_request, keys)} | ${t.log_bytes_per_task ? `${fmt(t.log_bytes_per_task.control)} / ${fmt(t.log_bytes_per_task.node)}` : "–"} |`,
    );
  }
  out.push("", "### Admission paced (open loop on a fixed timetable; latency from the scheduled send time)", "");
  out.push("| target | offered/s | answered/s | p50 ms | p99 ms | max ms | p99 of the 202s | statuses | CPU µs per request | log bytes per task (control / node) |", "|---|---|---|---|---|---|---|---|---|---|");
  for (const t of a.paced) {
    const keys = t.target === "floor" ? ["floor"] : ["control", "node"];
    out.push(
      `| ${targetName(t)} | ${fmt(t.rate)} | ${fmt(t.req_per_s)} | ${ms(t.latency.p50_ms)} | ${ms(t.latency.p99_ms)} | ${ms(t.latency.max_ms)} | ${ms(t.latency_202.p99_ms)} | ${answers(t)} | ${cpuOf(t.cpu_us_per_request, keys)} | ${t.log_bytes_per_task ? `${fmt(t.log_bytes_per_task.control)} / ${fmt(t.log_bytes_per_task.node)}` : "–"} |`,
    );
  }
  out.push("", "### Admission: what became of the admitted tasks (each control run above)", "");
  out.push(
    "| control run | 202s | 503s (store_backpressure_total) | admitted (enqueued) | completed | CPU µs per admitted task (control / node) | transcripts stored | transcripts lost | sampled ids: stream replayed to | sampled ids: transcript | store on disk after the run |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
  );
  const runs = [...a.full_speed, ...a.paced].filter((t) => t.tasks);
  for (const t of runs) {
    const k = t.tasks!;
    out.push(
      `| ${t.mode === "closed" ? `full speed, round ${t.round}` : `paced ${fmt(t.rate)}/s`} | ${fmt(k.admitted_202)} | ${fmt(k.refused_503)} (${k.store_backpressure === undefined ? "–" : fmt(k.store_backpressure)}) | ${fmt(k.enqueued)} | ${fmt(k.completed)} | ${fmt(k.cpu_us_per_admitted_task.control)} / ${fmt(k.cpu_us_per_admitted_task.node)} | ${fmt(k.transcripts_stored)} | ${fmt(k.transcripts_lost)} | ${statuses(k.sampled_ends)} | ${statuses(k.sampled_transcripts)} | ${storeDisk(k.store_after)} |`,
    );
  }
  const byMetrics = runs.every((t) => t.tasks!.transcripts_counted_by === "metrics");
  out.push(
    "",
    byMetrics
      ? 'Transcripts stored / lost: `store_writes_total{kind="transcript"}` / `transcripts_lost_total` from the control plane\'s `/metrics`. 503s: `503 REPLICA_EXHAUSTED` (`store.backlog`), the retriable refusal of a state store whose write queue is above its high-water mark. Store on disk: `state.db` + `state.db-wal`, cumulative per control plane.'
      : 'Transcripts stored / lost: `<id>.json` files in the artifact directory / "Could not store a task transcript" log lines (this control plane has no `store_*` series: the file store). Store on disk: the artifact files, cumulative per control plane.',
  );
  const m = a.peak_rss_mb;
  out.push(
    "",
    `Peak RSS (VmHWM, MB): control ${fmt(m.control_full_speed)} and node ${fmt(m.node_full_speed)} after the full-speed rounds; the paced runs had a fresh control plane and node: ${fmt(m.control_paced)} and ${fmt(m.node_paced)}; floor ${fmt(m.floor)}.`,
  );
  return out;
}

const RELAY_NAME: Record<string, string> = { engine: "engine directly", proxy: "minimal Bun proxy (parses every event)", v1: "control `/v1/completions` (stream)", v2: "control `POST /v2/tasks` + SSE" };
/** Sub-millisecond latencies: 3 decimals under 1 ms (and for differences, which may be negative). */
const fineMs = (x: number) => (Math.abs(x) < 1 ? fmt(x, 3) : ms(x));

function relayTable(r: RelayResult): string[] {
  const name = RELAY_NAME;
  const out = [`### Relay: ${fmt(r.streams)} concurrent streams × ${fmt(r.tokens)} tokens, ${r.rounds} rounds interleaved`, ""];
  out.push("| path | tokens/s (median of rounds) | CPU µs per token: engine / proxy / node / control | TTFT p50 / p99 ms | added TTFT p50 / p99 ms | streams |", "|---|---|---|---|---|---|");
  for (const x of r.paths) {
    const c = x.cpu_us_per_token;
    const cpu = ["engine", "proxy", "node", "control"].map((k) => (k in c ? fmt(c[k], 2) : "–")).join(" / ");
    out.push(
      `| ${name[x.path]} | ${fmt(x.tokens_per_s_median)} (${x.tokens_per_s_rounds.map((v) => fmt(v)).join(", ")}) | ${cpu} | ${ms(x.ttft.p50_ms)} / ${ms(x.ttft.p99_ms)} | ${x.added_ttft_ms ? `${ms(x.added_ttft_ms.p50)} / ${ms(x.added_ttft_ms.p99)}` : "–"} | ${statuses(x.outcomes)} |`,
    );
  }
  if (r.store) out.push("", `State store after the relay rounds (v1 and v2 streams): ${storeDisk(r.store)} on disk; store_backpressure_total ${r.store.store_backpressure === undefined ? "–" : fmt(r.store.store_backpressure)}, transcripts_lost_total ${r.store.transcripts_lost === undefined ? "–" : fmt(r.store.transcripts_lost)}.`);
  out.push("", `The proxy parsed ${fmt(r.proxy_events.parsed)} SSE events (expected ${fmt(r.proxy_events.expected)}: every token, finish, usage and [DONE] event of its streams).`);
  if (r.idle_ttft) out.push("", ...idleTtftTable(r.idle_ttft));
  return out;
}

function idleTtftTable(t: NonNullable<RelayResult["idle_ttft"]>): string[] {
  const out = [`### Relay: time to first token on an idle path (${fmt(t.requests)} sequential streams, interleaved)`, ""];
  out.push("| path | TTFT p50 / p99 / max ms | added p50 / p99 ms (percentile − engine's) | added p50 ms (median of per-round differences) | streams |", "|---|---|---|---|---|");
  for (const x of t.paths) {
    const a = x.added_ms;
    out.push(
      `| ${RELAY_NAME[x.path]} | ${fineMs(x.ttft.p50_ms)} / ${fineMs(x.ttft.p99_ms)} / ${fineMs(x.ttft.max_ms)} | ${a ? `${fineMs(a.p50)} / ${fineMs(a.p99)}` : "–"} | ${a ? fineMs(a.p50_of_round_differences) : "–"} | ${statuses(x.outcomes)} |`,
    );
  }
  const v2 = t.paths.find((x) => x.accepted);
  out.push(
    "",
    `Each round: one stream of ${fmt(t.tokens)} tokens per path, one at a time (nothing else in flight), ${fmt(t.gap_ms)} ms pause after each, the round's first path rotating; ${t.warmup_rounds} warm-up rounds not counted; keep-alive connections. TTFT: from sending the request (on \`/v2\`: \`POST /v2/tasks\`, the SSE stream opened right after the 202) to the first token.${v2?.accepted ? ` \`/v2\` 202 after p50 ${fineMs(v2.accepted.p50_ms)} / p99 ${fineMs(v2.accepted.p99_ms)} ms.` : ""} Target: added p50 ≤ 0.3 ms, p99 ≤ 1 ms.`,
  );
  return out;
}

function scaleTable(tests: ScaleTest[]): string[] {
  const what: Record<string, string> = { open: "(a) open streams", big: "(b) long streams, unpaced", paced: "(c) paced streams" };
  const out = ["### Scale (`POST /v2/tasks` + SSE, fresh control plane per test)", ""];
  out.push("| test | streams × tokens | streams | peak control RSS (idle) MB | peak node RSS MB | tokens/s | delivered ÷ offered | cores busy: control / node / engine / generators | store on disk after; store_backpressure_total |", "|---|---|---|---|---|---|---|---|---|");
  for (const t of tests) {
    const shape = `${fmt(t.streams)} × ${fmt(t.tokens_per_stream)}${t.engine_interval_ms ? ` (1 per ${fmt(t.engine_interval_ms)} ms)` : ""}`;
    if (t.skipped) {
      out.push(`| ${what[t.test]} | ${shape} | not run: ${t.skipped} | | | | | | |`);
      continue;
    }
    const c = t.cpu?.cores ?? {};
    const outcome = t.test === "paced" ? `${statuses(t.outcomes ?? {})} (stopped after the window by design)` : `${t.all_completed ? "all completed" : "NOT all completed"}: ${statuses(t.outcomes ?? {})}; peak open ${fmt(t.peak_open_streams_client)}`;
    const ratio = t.paced ? `${fmt(t.paced.delivered_tokens_per_s)} ÷ ${fmt(t.paced.offered_tokens_per_s)} = ${fmt(t.paced.delivered_over_offered, 3)} (engine wrote ${fmt(t.paced.engine_tokens_per_s)}/s)` : "–";
    out.push(
      `| ${what[t.test]} | ${shape} | ${outcome} | ${fmt(t.control_rss_mb?.peak)} (${fmt(t.control_rss_mb?.idle)}) | ${fmt(t.node_rss_mb?.peak)} | ${fmt(t.tokens_per_s)} | ${ratio} | ${["control", "node", "engine", "generator"].map((k) => fmt(c[k], 2)).join(" / ")} | ${storeDisk(t.store)}; ${t.store?.store_backpressure === undefined ? "–" : fmt(t.store.store_backpressure)} |`,
    );
  }
  return out;
}

export function renderTables(env: Env, p: Params, results: { admission?: AdmissionResult | { error: string }; relay?: RelayResult | { error: string }; scale?: { tests: ScaleTest[] } | { error: string } }): string {
  const out = [`Run ${env.date}: Bun ${env.bun}, ${env.cpus} CPUs, fd limit ${env.fd_limits.soft}/${env.fd_limits.hard}, CLK_TCK ${env.clk_tck}, temp dir (state store) on ${env.temp_fs}, code: ${env.code.tree === "working tree" ? `working tree at ${env.code.commit}${env.code.changed_files_in_working_tree ? ` + ${env.code.changed_files_in_working_tree} changed files` : ""}` : env.code.tree}${p.quick ? ", --quick" : ""}.`, ""];
  const section = <T,>(name: string, r: T | { error: string } | undefined, render: (x: T) => string[]) => {
    if (r === undefined) return;
    if (r && typeof r === "object" && "error" in r) out.push(`### ${name}`, "", `Not measured: ${(r as { error: string }).error}`, "");
    else out.push(...render(r as T), "");
  };
  section("Admission", results.admission, (a) => admissionTables(p, a));
  section("Relay", results.relay, relayTable);
  section("Scale", results.scale, (s) => scaleTable(s.tests));
  return out.join("\n").trimEnd() + "\n";
}
