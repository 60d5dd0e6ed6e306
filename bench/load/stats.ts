// Numbers: percentiles over ALL samples (sorted copies, nearest rank), rates per time bucket,
// rounding, and reading the generators' result files.

import { readFileSync } from "node:fs";

/** Nearest-rank percentile of an ascending array (p in 0..1). */
export function pct(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export interface LatencySummary {
  n: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
}

export function latencySummary(values: Float64Array | number[]): LatencySummary {
  const s = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return { n: s.length, p50_ms: r3(pct(s, 0.5)), p99_ms: r3(pct(s, 0.99)), max_ms: r3(s[s.length - 1] ?? NaN), mean_ms: r3(sum / s.length) };
}

/** A request generator's records: [done_ms, latency_ms, status] triples (status 0: no answer). */
export function readRecords(path: string): { done: Float64Array; latency: Float64Array; status: Float64Array } {
  const buf = readFileSync(path);
  const all = new Float64Array(Uint8Array.from(buf).buffer); // a copy: aligned
  const n = all.length / 3;
  const done = new Float64Array(n);
  const latency = new Float64Array(n);
  const status = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    done[i] = all[3 * i]!;
    latency[i] = all[3 * i + 1]!;
    status[i] = all[3 * i + 2]!;
  }
  return { done, latency, status };
}

/** The latencies of the records with one status. */
export function latenciesWithStatus(rec: { latency: Float64Array; status: Float64Array }, status: number): Float64Array {
  return rec.latency.filter((_, i) => rec.status[i] === status);
}

/** Completions per second in consecutive windows of `windowMs` (the last, partial one dropped unless it is the only one). */
export function ratePerWindow(done: Float64Array, windowMs: number, spanMs: number): number[] {
  const n = Math.max(1, Math.floor(spanMs / windowMs));
  const counts = new Array<number>(n).fill(0);
  for (const t of done) {
    const b = Math.floor(t / windowMs);
    if (b < n) counts[b]!++;
  }
  return counts.map((c) => Math.round((c * 1000) / windowMs));
}

export const r0 = (x: number) => (Number.isFinite(x) ? Math.round(x) : x);
export const r1 = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : x);
export const r3 = (x: number) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x);

export function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Adds counts of b into a. */
export function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
  return a;
}

/** Thousands separators for the table. */
export function fmt(x: number | undefined | null, digits = 0): string {
  if (x === undefined || x === null || !Number.isFinite(x)) return "n/a";
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Sums every series of a Prometheus metric (all label sets). */
export function promSum(text: string, name: string): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(v)) total += v;
  }
  return total;
}

/**
 * One Prometheus metric summed over the series whose labels include every `labels` pair;
 * undefined when the metric has no such series at all (a control plane that lacks it).
 */
export function promValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total: number | undefined;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    const labelPart = rest[0] === "{" ? rest.slice(0, rest.indexOf("}") + 1) : "";
    if (!want.every((w) => labelPart.includes(w))) continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(v)) total = (total ?? 0) + v;
  }
  return total;
}
