// The Grafana dashboard and the alert rules read only series the processes really export: a real
// control plane and node serve traffic (a task, a pool health check), both are scraped, and every
// metric name in every panel query and alert expression has a `# TYPE` line in one of the scrapes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parseExposition } from "../../adapters/metrics/index.ts";
import { collect, submitTask } from "../harness/sse.ts";
import { startOpsCluster, type OpsCluster } from "./cluster.ts";
import { familyOf, metricNames } from "./promql.ts";
import { alertRules, ROOT } from "./promtool.ts";

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
  gridPos?: { x: number; y: number; w: number; h: number };
}

const dashboard = (await Bun.file(join(ROOT, "deploy/grafana/llama-orch.json")).json()) as {
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string }[] };
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

let cluster: OpsCluster | undefined;
/** Every family with a `# TYPE` line in a scrape of the control plane or the node, with its type. */
const types = new Map<string, string>();

beforeAll(async () => {
  cluster = await startOpsCluster();
  const t = await submitTask(cluster.controlUrl, { model_ref: "tiny", prompt: "dashboard", max_tokens: 20 });
  expect(t.status).toBe(202);
  await collect(`${cluster.controlUrl}${t.json.streams.sse}`);
  expect((await fetch(`${cluster.controlUrl}/v2/pools/p0/health`)).status).toBe(200);
  for (const url of [cluster.controlUrl, cluster.nodeUrl]) {
    for (const [name, type] of parseExposition(await (await fetch(`${url}/metrics`)).text()).types) types.set(name, type);
  }
}, 30_000);

afterAll(async () => {
  await cluster?.close();
});

describe("Grafana dashboard", () => {
  test("is a Grafana dashboard model with a Prometheus datasource variable that every query uses", () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.uid).toBe("llama-orch");
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: "datasource", type: "datasource", query: "prometheus" }));
    const queries = panels.flatMap((p) => p.targets ?? []);
    expect(queries.length).toBeGreaterThan(20);
    for (const q of queries) expect(q.datasource?.uid).toBe("${datasource}");
    for (const p of panels) {
      expect(p.gridPos, p.title).toBeDefined();
      expect(p.gridPos!.x + p.gridPos!.w).toBeLessThanOrEqual(24);
    }
  });

  test("covers what operators watch", () => {
    const all = panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr)));
    for (const name of ["orchd_nodes_online", "orchd_pools_available", "queue_depth", "orchd_admission_enqueued_total", "orchd_admission_rejected_total", "latency_first_token_ms_bucket", "latency_decode_ms_bucket", "tokens_out_total", "engine_crashes_total", "circuit_breaker_state", "gpu_utilization", "vram_used_bytes", "kv_cache_usage_ratio", "pool_health_check_duration_seconds_bucket"]) {
      expect(all).toContain(name);
    }
  });

  test("every panel query names only series the control plane or the node export", () => {
    const unknown: string[] = [];
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        for (const name of metricNames(t.expr)) if (!types.has(familyOf(name, types))) unknown.push(`${p.title}: ${name}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});

describe("alert rules", () => {
  test("every alert expression names only series the control plane or the node export (or Prometheus's up)", async () => {
    const unknown: string[] = [];
    for (const r of await alertRules()) {
      for (const name of metricNames(r.expr)) if (name !== "up" && !types.has(familyOf(name, types))) unknown.push(`${r.alert}: ${name}`);
    }
    expect(unknown).toEqual([]);
  });
});

test("metricNames finds metric names and nothing else", () => {
  expect(metricNames('histogram_quantile(0.95, sum by (le, pool_id) (rate(x_bucket{a="b c"}[5m]))) > 1e3 or y / on (k) z')).toEqual(["x_bucket", "y", "z"]);
  expect(familyOf("x_bucket", new Map([["x", "histogram"]]))).toBe("x");
  expect(familyOf("tasks_count", new Map([["tasks_count", "counter"]]))).toBe("tasks_count");
});
