// Writes deploy/kubernetes/prometheus-rule.yaml, a prometheus-operator PrometheusRule that carries
// the alert rules of deploy/prometheus/alerts.yml unchanged, so the two never drift
// (`bun run k8s:rule`). `--check` writes nothing and exits 1 when the committed file is stale.
//   --alerts FILE, --out FILE: other paths (the tests use them)

import { join } from "node:path";
import { parseArgs } from "node:util";

const root = join(import.meta.dir, "..");

interface RuleFile {
  groups: { name: string; rules: Record<string, unknown>[] }[];
}

/** A Prometheus rule file's groups, checked for the shape the PrometheusRule needs. */
export function parseRuleFile(text: string, source: string): RuleFile {
  const raw = Bun.YAML.parse(text) as { groups?: unknown } | null;
  const groups = raw?.groups;
  if (!Array.isArray(groups) || groups.length === 0) throw new Error(`${source}: no groups (a Prometheus rule file has groups: [{name, rules}])`);
  for (const [i, g] of groups.entries()) {
    if (typeof g?.name !== "string" || !Array.isArray(g.rules) || g.rules.length === 0) throw new Error(`${source}: groups.${i} needs a name and at least one rule`);
    for (const [j, r] of (g.rules as unknown[]).entries()) {
      const rule = r as Record<string, unknown> | null;
      if (typeof rule?.expr !== "string" || (typeof rule.alert !== "string" && typeof rule.record !== "string")) {
        throw new Error(`${source}: groups.${i}.rules.${j} needs an expr and an alert or record name`);
      }
    }
  }
  return { groups: groups as RuleFile["groups"] };
}

/** The PrometheusRule document's text: a header that says where it comes from, then the object. */
export function renderPrometheusRule(rules: RuleFile): string {
  const object = {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: {
      name: "llama-orch",
      labels: { "app.kubernetes.io/name": "llama-orch" },
    },
    spec: { groups: rules.groups },
  };
  const body = Bun.YAML.stringify(object, null, 2);
  // The file must say exactly what alerts.yml says: refuse a rendering that does not read back.
  if (!Bun.deepEquals(Bun.YAML.parse(body), object, true)) throw new Error("the rendered PrometheusRule does not parse back to the rules");
  return (
    "# GENERATED from deploy/prometheus/alerts.yml by `bun run k8s:rule`; do not edit, edit alerts.yml.\n" +
    "# Your Prometheus resource picks PrometheusRules by label (ruleSelector): add the label it expects.\n" +
    body +
    (body.endsWith("\n") ? "" : "\n")
  );
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { check: { type: "boolean" }, alerts: { type: "string" }, out: { type: "string" } }, strict: true });
  const alertsPath = values.alerts ?? join(root, "deploy", "prometheus", "alerts.yml");
  const target = values.out ?? join(root, "deploy", "kubernetes", "prometheus-rule.yaml");
  const source = Bun.file(alertsPath);
  if (!(await source.exists())) {
    console.error(`${alertsPath} does not exist`);
    process.exit(2);
  }
  let text: string;
  try {
    text = renderPrometheusRule(parseRuleFile(await source.text(), alertsPath));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  if (values.check) {
    const file = Bun.file(target);
    const current = (await file.exists()) ? await file.text() : "";
    if (current !== text) {
      console.error(`${target} is out of date with ${alertsPath}; run: bun run k8s:rule`);
      process.exit(1);
    }
    console.log(`${target} is up to date`);
  } else {
    await Bun.write(target, text);
    console.log(`wrote ${target}`);
  }
}
