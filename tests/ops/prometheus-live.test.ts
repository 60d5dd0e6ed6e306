// A real Prometheus (the Debian package's binary) scrapes a real control plane and node with the
// alert rules of deploy/prometheus/alerts.yml, their `for:` cut to 0s: killing the node makes
// NoNodesOnline fire through Prometheus's own API, and starting it again resolves it.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort, startOpsCluster, type OpsCluster } from "./cluster.ts";
import { PROMETHEUS_DIR, prometheus, skipMessage } from "./promtool.ts";

if (!prometheus) console.warn(skipMessage("prometheus"));

let cluster: OpsCluster | undefined;
let prom: Subprocess | undefined;
let dir: string | undefined;

afterEach(async () => {
  prom?.kill("SIGKILL");
  await prom?.exited;
  prom = undefined;
  await cluster?.close();
  cluster = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "pending" | "firing";
}

/** Polls Prometheus's API until `pred` holds on its answer (waiting on Prometheus, with a deadline). */
async function until<T>(what: string, get: () => Promise<T>, pred: (v: T) => boolean, deadlineMs = 20_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  let last: T | undefined;
  while (Date.now() < end) {
    try {
      last = await get();
      if (pred(last)) return last;
    } catch {
      // Prometheus still starting: keep asking until the deadline.
    }
    await Bun.sleep(200);
  }
  throw new Error(`timed out waiting for ${what}; last answer: ${JSON.stringify(last)}`);
}

test.skipIf(!prometheus)("Prometheus fires NoNodesOnline when the only node dies, and resolves it when the node is back", async () => {
  cluster = await startOpsCluster();
  dir = mkdtempSync(join(tmpdir(), "llorch-prom-"));
  // The repository's rules with every `for:` at 0s, so the test waits seconds, not minutes.
  const rules = (await Bun.file(join(PROMETHEUS_DIR, "alerts.yml")).text()).replace(/^(\s+)for: .*$/gm, "$1for: 0s");
  writeFileSync(join(dir, "alerts.yml"), rules);
  const hostOf = (url: string) => new URL(url).host;
  writeFileSync(
    join(dir, "prometheus.yml"),
    [
      "global: { scrape_interval: 1s, evaluation_interval: 1s }",
      "rule_files: [alerts.yml]",
      "scrape_configs:",
      `  - { job_name: llama-orch-control, static_configs: [{ targets: ["${hostOf(cluster.controlUrl)}"] }] }`,
      `  - { job_name: llama-orch-nodes, static_configs: [{ targets: ["${hostOf(cluster.nodeUrl)}"] }] }`,
      "",
    ].join("\n"),
  );
  const api = `http://127.0.0.1:${freePort()}`;
  prom = Bun.spawn(
    [prometheus!, `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=${new URL(api).host}`, "--log.level=warn"],
    { stdout: "ignore", stderr: "pipe" },
  );
  const alerts = async () => ((await (await fetch(`${api}/api/v1/alerts`)).json()) as { data: { alerts: PromAlert[] } }).data.alerts;
  const query = async (q: string) => ((await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
  const firing = (name: string) => (list: PromAlert[]) => list.some((a) => a.labels.alertname === name && a.state === "firing");

  // Prometheus sees both processes up and the node online: nothing about nodes fires.
  await until("both targets up", () => query("up"), (r) => r.length === 2 && r.every((s) => s.value[1] === "1"));
  await until("the node online in Prometheus", () => query("orchd_nodes_online"), (r) => r[0]?.value[1] === "1");
  await until("NoNodesOnline not firing", alerts, (list) => !firing("NoNodesOnline")(list));

  cluster.node.proc.kill("SIGKILL");
  await cluster.node.exited;
  const fired = await until("NoNodesOnline firing", alerts, firing("NoNodesOnline"));
  const alert = fired.find((a) => a.labels.alertname === "NoNodesOnline")!;
  expect(alert.labels.severity).toBe("critical");
  expect(alert.annotations.runbook_url).toBe("docs/runbooks/incidents.md#nonodesonline");
  // The node's pool is gone too, and its process is a target that is down.
  await until("NoPoolsAvailable firing", alerts, firing("NoPoolsAvailable"));
  await until("the node's target down", () => query('up{job="llama-orch-nodes"}'), (r) => r[0]?.value[1] === "0");

  await cluster.restartNode();
  await until("NoNodesOnline resolved", alerts, (list) => !list.some((a) => a.labels.alertname === "NoNodesOnline"));
  await until("the node online again in Prometheus", () => query("orchd_nodes_online"), (r) => r[0]?.value[1] === "1");
  await until("the node's target up again", () => query('up{job="llama-orch-nodes"}'), (r) => r[0]?.value[1] === "1");
}, 60_000);
