// The alert rules: valid for promtool, each alert unit-tested (fires after its `for:` with its
// labels and annotations, quiet when healthy), each with severity, summary, description and a
// runbook link to an anchor that exists in docs/runbooks/incidents.md.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { alertRules, PROMETHEUS_DIR, promtool, ROOT, run, skipMessage } from "./promtool.ts";

if (!promtool) console.warn(skipMessage("promtool"));

describe("alert rules", () => {
  test.skipIf(!promtool)("promtool check rules accepts alerts.yml", async () => {
    const r = await run([promtool!, "check", "rules", join(PROMETHEUS_DIR, "alerts.yml")]);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  test.skipIf(!promtool)("promtool test rules passes alerts.test.yml", async () => {
    const r = await run([promtool!, "test", "rules", join(PROMETHEUS_DIR, "alerts.test.yml")]);
    expect(r.out).toContain("SUCCESS");
    expect(r.code).toBe(0);
  });

  test.skipIf(!promtool)("the example prometheus.yml is a valid config", async () => {
    const r = await run([promtool!, "check", "config", join(PROMETHEUS_DIR, "prometheus.yml")]);
    expect(r.code).toBe(0);
  });

  test("every alert has a firing and a healthy unit test", async () => {
    const tests = (Bun.YAML.parse(await Bun.file(join(PROMETHEUS_DIR, "alerts.test.yml")).text()) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test);
    for (const rule of await alertRules()) {
      expect(cases.some((c) => c.alertname === rule.alert && c.exp_alerts.length > 0), `${rule.alert} fires`).toBe(true);
      expect(cases.some((c) => c.alertname === rule.alert && c.exp_alerts.length === 0), `${rule.alert} quiet`).toBe(true);
    }
  });

  test("every alert has a severity, a summary, a description and a runbook anchor that exists", async () => {
    const runbook = await Bun.file(join(ROOT, "docs/runbooks/incidents.md")).text();
    const anchors = new Set([...runbook.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^a-z0-9 -]/g, "").replace(/ /g, "-")));
    const rules = await alertRules();
    const upstream = ["NoNodesOnline", "LowNodeAvailability", "NoPoolsAvailable", "LowPoolAvailability", "HighHealthCheckLatency", "HealthCheckFailureRate", "HeartbeatFailureRate", "NodeHeartbeatStalled", "HighRegistrationFailureRate", "HandoffProcessingStalled", "HighHandoffProcessingLatency"];
    for (const name of upstream) expect(rules.map((r) => r.alert)).toContain(name);
    for (const r of rules) {
      expect(["critical", "warning"], r.alert).toContain(r.labels?.severity ?? "");
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
      const url = r.annotations?.runbook_url ?? "";
      expect(url).toBe(`docs/runbooks/incidents.md#${r.alert!.toLowerCase()}`);
      expect(anchors.has(r.alert!.toLowerCase()), `runbook section for ${r.alert}`).toBe(true);
    }
  });
});
