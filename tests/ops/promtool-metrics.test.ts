// `promtool check metrics` on real scrapes: a real control plane and node serve tasks, a pool
// health check, a reload and a drain, then each `/metrics` exposition goes through promtool's
// linter. Every finding must be one docs/contract.md#metrics lists (all of them caused by the
// upstream names, a stable API), and every listed finding of a family that has samples must show
// up: promtool lints only families with samples, so a finding of a family the traffic never fed
// (an engine restart's backoff, a handoff) cannot appear.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parseExposition } from "../../adapters/metrics/index.ts";
import { collect, submitTask } from "../harness/sse.ts";
import { startOpsCluster, type OpsCluster } from "./cluster.ts";
import { promtool, ROOT, skipMessage } from "./promtool.ts";

if (!promtool) console.warn(skipMessage("promtool"));

type Process = "control plane" | "node";

/** The findings docs/contract.md lists: `| process | \`series\` | \`what promtool says\` | why |`. */
async function documentedFindings(): Promise<{ process: Process; series: string; line: string }[]> {
  const doc = await Bun.file(join(ROOT, "docs/contract.md")).text();
  const rows: { process: Process; series: string; line: string }[] = [];
  for (const m of doc.matchAll(/^\| (control plane|node) \| `([a-z_:]+)` \| `([^`]+)` \|/gm)) {
    rows.push({ process: m[1] as Process, series: m[2]!, line: `${m[2]} ${m[3]}` });
  }
  return rows;
}

async function checkMetrics(exposition: string): Promise<{ code: number; findings: string[] }> {
  const proc = Bun.spawn([promtool!, "check", "metrics"], { stdin: new Blob([exposition]), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const findings = (out + err)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  return { code, findings };
}

/** Families with at least one sample (a histogram's samples are `_bucket`, `_sum`, `_count`). */
function sampled(exposition: string): Set<string> {
  const { types, samples } = parseExposition(exposition);
  const families = new Set<string>();
  for (const s of samples) {
    const family = ["_bucket", "_sum", "_count"].map((x) => (s.name.endsWith(x) ? s.name.slice(0, -x.length) : "")).find((f) => f && types.get(f) === "histogram");
    families.add(family ?? s.name);
  }
  return families;
}

let cluster: OpsCluster | undefined;
const scrapes = new Map<Process, string>();

beforeAll(async () => {
  if (!promtool) return;
  cluster = await startOpsCluster();
  const base = cluster.controlUrl;
  for (let i = 0; i < 3; i++) {
    const t = await submitTask(base, { model_ref: "tiny", prompt: `lint ${i}`, max_tokens: 24 });
    expect(t.status).toBe(202);
    await collect(`${base}${t.json.streams.sse}`);
  }
  expect((await fetch(`${base}/v2/pools/p0/health`)).status).toBe(200);
  const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect((await post("/v2/pools/p0/reload", { new_model_ref: "tiny-b" })).status).toBe(200);
  const drained = cluster.node.waitFor((l) => l.msg === "Pool p0 drained", "pool p0 drained");
  expect((await post("/v2/pools/p0/drain", { deadline_ms: 0 })).status).toBe(202);
  await drained;
  scrapes.set("control plane", await (await fetch(`${base}/metrics`)).text());
  scrapes.set("node", await (await fetch(`${cluster.nodeUrl}/metrics`)).text());
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

describe("promtool check metrics after real traffic", () => {
  test("docs/contract.md lists the findings, each an upstream name", async () => {
    const rows = await documentedFindings();
    expect(rows.length).toBeGreaterThan(0);
    const doc = await Bun.file(join(ROOT, "docs/contract.md")).text();
    // Each listed series is in the metrics tables of the same page, so the list cannot go stale.
    for (const r of rows) expect(doc.split(`\`${r.series}\``).length - 1, r.series).toBeGreaterThanOrEqual(2);
  });

  for (const process of ["control plane", "node"] as const) {
    test.skipIf(!promtool)(`the ${process}'s exposition: exactly the documented findings`, async () => {
      const text = scrapes.get(process)!;
      const fed = sampled(text);
      const expected = (await documentedFindings()).filter((r) => r.process === process && fed.has(r.series)).map((r) => r.line);
      const { code, findings } = await checkMetrics(text);
      expect(findings.sort()).toEqual(expected.sort());
      expect(code).toBe(findings.length === 0 ? 0 : 3);
    });
  }

  test.skipIf(!promtool)("the traffic fed the series the findings are about, and our own seconds series", () => {
    const control = sampled(scrapes.get("control plane")!);
    for (const f of ["latency_first_token_ms", "latency_decode_ms", "orchd_dispatch_latency_ms", "orchd_pool_health_check_duration_ms", "latency_inter_token_seconds", "latency_end_to_end_seconds"]) {
      expect(control.has(f), f).toBe(true);
    }
    const node = sampled(scrapes.get("node")!);
    for (const f of ["pool_slots_total", "drain_duration_ms", "reload_duration_ms"]) expect(node.has(f), f).toBe(true);
  });
});
