// Finding the Debian `prometheus` package's binaries (promtool, prometheus) for the ops tests.
// CI installs the package (.ci/run); elsewhere the tests that need them skip with a message.

import { join } from "node:path";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const PROMETHEUS_DIR = join(ROOT, "deploy/prometheus");

export const promtool = Bun.which("promtool");
export const prometheus = Bun.which("prometheus");

export function skipMessage(binary: string): string {
  return `${binary} is not installed: skipping (apt-get install -y prometheus; .ci/run installs it in CI)`;
}

/** Runs a command to its end: exit code and its output. */
export async function run(cmd: string[], cwd = ROOT): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: out + err };
}

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** The alert rules of alerts.yml. */
export async function alertRules(): Promise<Rule[]> {
  const doc = Bun.YAML.parse(await Bun.file(join(PROMETHEUS_DIR, "alerts.yml")).text()) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
}
