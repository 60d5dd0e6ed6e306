// deploy/kubernetes, checked without a cluster: every document against its kind's schema (the
// official Kubernetes and prometheus-operator OpenAPI schemas, from kubernetes-models), then what a
// schema cannot see: references between objects, env vars the processes really read, probes that
// answer on the ports they target (by running both processes with the manifests' args and env),
// the node id from spec.nodeName, placeholder-only secrets, the PrometheusRule matching alerts.yml.

import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service } from "kubernetes-models/v1";
import { DaemonSet, Deployment } from "kubernetes-models/apps/v1";
import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { MIN_TOKEN_LENGTH } from "../../actors/cli.ts";
import { parseControlConfig } from "../../actors/control/config.ts";
import { parseNodeConfig } from "../../actors/node/config.ts";
import { spawnService, type Service as Proc } from "../harness/process.ts";

const ROOT = join(import.meta.dir, "..", "..");
const DIR = join(ROOT, "deploy", "kubernetes");
type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; [k: string]: any };

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/Secret": Secret,
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "apps/v1/Deployment": Deployment,
  "apps/v1/DaemonSet": DaemonSet,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
};

function parseDocs(text: string): Obj[] {
  const parsed = Bun.YAML.parse(text);
  return (Array.isArray(parsed) ? parsed : [parsed]).filter((d) => d != null) as Obj[];
}
const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml").sort();
const docs = files.flatMap((f) => parseDocs(readFileSync(join(DIR, f), "utf8")).map((d) => ({ file: f, doc: d })));
const objects = docs.map((d) => d.doc);
const one = (kind: string, name: string): Obj => {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0]!;
};
const control = one("Deployment", "llama-orch-control");
const node = one("DaemonSet", "llama-orch-node");
const secret = one("Secret", "llama-orch-tokens");
const workloads = [control, node];
const containersOf = (w: Obj): any[] => [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers];
const mainContainer = (w: Obj): any => w.spec.template.spec.containers[0];
const envOf = (c: any, name: string): any => (c.env ?? []).find((e: any) => e.name === name);

test("every document validates against its kind's schema, and the validator does refuse a bad one", () => {
  expect(files.length).toBeGreaterThanOrEqual(7);
  for (const { file, doc } of docs) {
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    if (!Model) throw new Error(`${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
    try {
      new Model(doc).validate();
    } catch (error) {
      throw new Error(`${file}: ${doc.kind} ${doc.metadata?.name}: ${(error as Error).message}`);
    }
  }
  const broken = structuredClone(control);
  broken.spec.replicas = "one";
  expect(() => new Deployment(broken).validate()).toThrow(/replicas/);
  const badRule = structuredClone(one("PrometheusRule", "llama-orch"));
  badRule.spec.groups[0].rules[0].for = "one minute";
  expect(() => new PrometheusRule(badRule as any).validate()).toThrow();
});

test("the kustomization lists exactly the manifest files and names every image", () => {
  const k = Bun.YAML.parse(readFileSync(join(DIR, "kustomization.yaml"), "utf8")) as any;
  expect([...k.resources].sort()).toEqual(files);
  const images = new Set(k.images.map((i: any) => i.name));
  for (const w of workloads) for (const c of containersOf(w)) expect(images.has(c.image.split(":")[0])).toBe(true);
  const ns = objects.filter((o) => o.kind === "Namespace");
  expect(ns.map((n) => n.metadata.name)).toEqual([k.namespace]);
});

const kubectl = Bun.which("kubectl");
test.skipIf(!kubectl)("kubectl kustomize builds every object into the namespace (when kubectl is installed)", () => {
  const out = Bun.spawnSync([kubectl!, "kustomize", DIR], { stdout: "pipe", stderr: "pipe" });
  expect(out.stderr.toString()).toBe("");
  const built = parseDocs(out.stdout.toString());
  expect(built.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort());
  for (const o of built) if (o.kind !== "Namespace") expect((o.metadata as any).namespace).toBe("llama-orch");
});

test("the secret holds placeholders only, too short for either process to accept", () => {
  const values = Object.entries({ ...(secret.stringData ?? {}), ...(secret.data ?? {}) });
  expect(values.length).toBeGreaterThanOrEqual(3);
  for (const [key, value] of values) {
    expect(`${key}=${value}`).toMatch(/=REPLACE-ME$/);
    expect(String(value).length).toBeLessThan(MIN_TOKEN_LENGTH);
  }
  // Every secretKeyRef names this Secret and a key it has (or is optional).
  for (const w of workloads)
    for (const c of containersOf(w))
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        expect(ref.name).toBe(secret.metadata.name);
        if (!ref.optional) expect(Object.keys(secret.stringData)).toContain(ref.key);
      }
  // The nodes never get the clients' token.
  for (const c of containersOf(node)) for (const e of c.env ?? []) expect(e.valueFrom?.secretKeyRef?.key).not.toBe("api-token");
});

/** Source text a process reads its environment in (tests excluded). */
function sourceText(paths: string[]): string {
  const out: string[] = [];
  const walk = (p: string) => {
    for (const entry of readdirSync(p, { withFileTypes: true })) {
      const full = join(p, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) out.push(readFileSync(full, "utf8"));
    }
  };
  for (const p of paths) p.endsWith(".ts") ? out.push(readFileSync(join(ROOT, p), "utf8")) : walk(join(ROOT, p));
  return out.join("\n");
}
/** Read by Bun itself, not by our code: each documented in deploy/systemd or docs/configuration.md. */
const BUN_VARIABLES = ["BUN_RUNTIME_TRANSPILER_CACHE_PATH", "BUN_CONFIG_MAX_HTTP_REQUESTS"];

test("every env var the manifests set is one the process reads and docs/configuration.md lists", () => {
  const docsText = readFileSync(join(ROOT, "docs", "configuration.md"), "utf8");
  const sources = {
    control: sourceText(["actors/control", "actors/cli.ts", "actors/config-file.ts", "adapters"]),
    node: sourceText(["actors/node", "actors/cli.ts", "actors/config-file.ts", "adapters", "host"]),
  };
  for (const [w, read] of [[control, sources.control], [node, sources.node]] as const) {
    for (const e of mainContainer(w).env) {
      if (BUN_VARIABLES.includes(e.name)) continue;
      expect({ name: e.name, read: new RegExp(`\\b${e.name}\\b`).test(read) }).toEqual({ name: e.name, read: true });
      expect({ name: e.name, documented: docsText.includes(`\`${e.name}\``) }).toEqual({ name: e.name, documented: true });
    }
  }
});

test("the DaemonSet: node id from spec.nodeName, GPUs requested and selected, the control plane's Service dialled", () => {
  const c = mainContainer(node);
  const spec = node.spec.template.spec;
  expect(envOf(c, "POOL_MANAGERD_NODE_ID").valueFrom.fieldRef.fieldPath).toBe("spec.nodeName");
  // Nothing overrides it: --node-id wins over the variable (docs/configuration.md).
  expect([...(c.command ?? []), ...(c.args ?? [])].join(" ")).not.toContain("--node-id");
  expect(Number(c.resources.limits["nvidia.com/gpu"])).toBeGreaterThanOrEqual(1);
  expect(spec.nodeSelector?.["nvidia.com/gpu.present"] ?? spec.affinity?.nodeAffinity).toBeDefined();
  expect(spec.tolerations).toContainEqual(expect.objectContaining({ key: "nvidia.com/gpu", operator: "Exists" }));
  const url = new URL(envOf(c, "ORCHESTRATORD_URL").value);
  const svc = one("Service", url.hostname);
  expect(svc.spec.ports.map((p: any) => p.port)).toContain(Number(url.port));
  expect(svc.spec.selector).toEqual(control.spec.template.metadata.labels);
  // Model cache on the machine, the pools file from its ConfigMap, and both files parse.
  const cache = envOf(c, "POOL_MANAGERD_MODEL_CACHE").value;
  const cacheMount = c.volumeMounts.find((m: any) => m.mountPath === cache);
  expect(spec.volumes.find((v: any) => v.name === cacheMount.name).hostPath).toBeDefined();
  const pools = one("ConfigMap", "llama-orch-pools").data["pools.yaml"];
  expect(parseNodeConfig(pools, "node-pools.yaml").pools.length).toBeGreaterThanOrEqual(1);
  expect(envOf(c, "POOL_MANAGERD_CONFIG").value).toBe(`${c.volumeMounts.find((m: any) => m.name === "pools").mountPath}/pools.yaml`);
});

test("the Deployment: one replica, Recreate, the state directory on the claim, a valid config file", () => {
  expect(control.spec.replicas).toBe(1);
  expect(control.spec.strategy.type).toBe("Recreate");
  const c = mainContainer(control);
  const stateDir = c.args[c.args.indexOf("--state-dir") + 1];
  const mount = c.volumeMounts.find((m: any) => m.mountPath === stateDir);
  const claim = control.spec.template.spec.volumes.find((v: any) => v.name === mount.name).persistentVolumeClaim.claimName;
  expect(one("PersistentVolumeClaim", claim).spec.accessModes).toEqual(["ReadWriteOnce"]);
  const file = parseControlConfig(one("ConfigMap", "llama-orch-control").data["control.yaml"], "control-config.yaml");
  expect(file.state_dir).toBe(stateDir);
  expect(Number(file.addr!.split(":").pop())).toBe(c.ports[0].containerPort);
});

test("every workload's volumes, Services and ServiceMonitors point at things that exist; jobs match alerts.yml", () => {
  for (const w of workloads) {
    const spec = w.spec.template.spec;
    for (const v of spec.volumes) if (v.configMap) one("ConfigMap", v.configMap.name);
    for (const c of containersOf(w)) for (const m of c.volumeMounts ?? []) expect(spec.volumes.map((v: any) => v.name)).toContain(m.name);
  }
  const services = objects.filter((o) => o.kind === "Service");
  for (const svc of services) {
    const target = workloads.find((w) => Object.entries(svc.spec.selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v))!;
    expect(target).toBeDefined();
    for (const p of svc.spec.ports) expect(mainContainer(target).ports.map((cp: any) => cp.name)).toContain(p.targetPort);
  }
  const monitored = objects
    .filter((o) => o.kind === "ServiceMonitor")
    .map((sm) => {
      const matches = services.filter((s) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
      expect(matches.length).toBe(1);
      for (const e of sm.spec.endpoints) expect(matches[0]!.spec.ports.map((p: any) => p.name)).toContain(e.port);
      return matches[0]!.metadata.name; // prometheus-operator's default job label
    });
  const alerts = readFileSync(join(ROOT, "deploy", "prometheus", "alerts.yml"), "utf8");
  const jobs = new Set([...alerts.matchAll(/job="([^"]+)"/g)].map((m) => m[1]!));
  for (const job of jobs) expect(monitored).toContain(job);
});

test("the PrometheusRule is what scripts/k8s-prometheus-rule.ts makes of alerts.yml", () => {
  const check = Bun.spawnSync(["bun", "scripts/k8s-prometheus-rule.ts", "--check"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect({ code: check.exitCode, err: check.stderr.toString() }).toEqual({ code: 0, err: "" });
  const alerts = Bun.YAML.parse(readFileSync(join(ROOT, "deploy", "prometheus", "alerts.yml"), "utf8")) as any;
  expect(one("PrometheusRule", "llama-orch").spec.groups).toEqual(alerts.groups);
});

const temp = mkdtempSync(join(tmpdir(), "llorch-k8s-"));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

test("the rule script: writes a fixture's rules, --check fails once they drift, refuses a file that is not a rule file", () => {
  const fixture = join(temp, "alerts.yml");
  const out = join(temp, "rule.yaml");
  const run = (...args: string[]) => Bun.spawnSync(["bun", "scripts/k8s-prometheus-rule.ts", "--alerts", fixture, "--out", out, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const rules = { groups: [{ name: "g", rules: [{ alert: "Down", expr: 'up{job="x"} == 0\n', for: "1m", labels: { severity: "critical" }, annotations: { summary: "{{ $labels.instance }} is down: \"quoted\"" } }] }] };
  writeFileSync(fixture, Bun.YAML.stringify(rules, null, 2));
  expect(run().exitCode).toBe(0);
  const written = parseDocs(readFileSync(out, "utf8"))[0]!;
  new PrometheusRule(written as any).validate();
  expect(written.spec.groups).toEqual(rules.groups);
  expect(run("--check").exitCode).toBe(0);
  rules.groups[0]!.rules[0]!.for = "5m";
  writeFileSync(fixture, Bun.YAML.stringify(rules, null, 2));
  const stale = run("--check");
  expect(stale.exitCode).toBe(1);
  expect(stale.stderr.toString()).toContain("out of date");
  writeFileSync(fixture, "groups: []\n");
  expect(run().exitCode).toBe(2);
});

const TOKENS: Record<string, string> = { "api-token": "a".repeat(32), "node-token": "n".repeat(32), "node-ops-token": "o".repeat(32) };
/** A workload's main container as a process here: its args and env, its mounts mapped to temp dirs. */
function asProcess(w: Obj, entry: string, overrides: { args: string[]; env: Record<string, string>; files?: Record<string, string> }) {
  const c = mainContainer(w);
  const mounts: [string, string][] = c.volumeMounts.map((m: any) => {
    const dir = join(temp, `${w.metadata.name}-${m.name}`);
    mkdirSync(dir, { recursive: true });
    const volume = w.spec.template.spec.volumes.find((v: any) => v.name === m.name);
    if (volume.configMap) for (const [k, v] of Object.entries(one("ConfigMap", volume.configMap.name).data)) writeFileSync(join(dir, k), String(v));
    return [m.mountPath, dir];
  });
  const mapPath = (s: string) => {
    const hit = mounts.find(([from]) => s === from || s.startsWith(`${from}/`));
    return hit ? hit[1] + s.slice(hit[0].length) : s;
  };
  for (const [path, text] of Object.entries(overrides.files ?? {})) writeFileSync(mapPath(path), text);
  const env: Record<string, string> = {};
  for (const e of c.env) {
    if (e.value !== undefined) env[e.name] = mapPath(e.value);
    else if (e.valueFrom.secretKeyRef) {
      if (TOKENS[e.valueFrom.secretKeyRef.key]) env[e.name] = TOKENS[e.valueFrom.secretKeyRef.key]!;
    } else if (e.valueFrom.fieldRef?.fieldPath === "spec.nodeName") env[e.name] = "gpu-node-a.example.internal";
  }
  return spawnService([entry, ...(c.args ?? []).map(mapPath), ...overrides.args], { LLORCH_API_TOKEN: undefined, AUTH_TOKEN: undefined, LLORCH_NODE_TOKEN: undefined, ...env, ...overrides.env });
}

test("the processes start with the manifests' args, env and files, and answer the probes on their paths", async () => {
  const procs: Proc[] = [];
  try {
    // Only the listen addresses (port 0 here) and the control plane's address differ from the pod.
    const cp = asProcess(control, "actors/control/main.ts", { args: ["--addr", "127.0.0.1:0"], env: {} });
    procs.push(cp);
    const controlUrl = String((await cp.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
    const mockPools = "pools:\n  - id: p0\n    engine: mock\n    model: tiny\n    allow_cpu: true\n";
    const nd = asProcess(node, "actors/node/main.ts", { args: ["--addr", "127.0.0.1:0"], env: { ORCHESTRATORD_URL: controlUrl }, files: { [envOf(mainContainer(node), "POOL_MANAGERD_CONFIG").value]: mockPools } });
    procs.push(nd);
    const nodeUrl = String((await nd.waitFor((l) => l.event === "listening", "node listening")).url).replace(/\/$/, "");
    await cp.waitFor((l) => l.msg === "Pool p0 on node gpu-node-a.example.internal is ready", "the node registered under its Kubernetes node name");
    for (const [w, base] of [[control, controlUrl], [node, nodeUrl]] as const) {
      const c = mainContainer(w);
      for (const kind of ["livenessProbe", "readinessProbe", "startupProbe"]) {
        const probe = c[kind]?.httpGet;
        if (!probe) continue;
        expect(c.ports.map((p: any) => p.name)).toContain(probe.port);
        const res = await fetch(base + probe.path);
        expect({ kind, path: probe.path, status: res.status }).toEqual({ kind, path: probe.path, status: 200 });
      }
      expect(c.livenessProbe.httpGet.path).toBe("/health"); // a node whose pools are down must not be restarted
      expect(c.readinessProbe.httpGet.path).toBe("/ready");
    }
  } finally {
    for (const p of procs.reverse()) await p.stop("SIGKILL");
  }
}, 30_000);

test("the Dockerfile builds both images the manifests run, from real entry points", () => {
  const text = readFileSync(join(ROOT, "deploy", "container", "Dockerfile"), "utf8");
  expect(text).toMatch(/^ARG BUN_IMAGE=oven\/bun:/m);
  expect(text).toContain("bun install --frozen-lockfile --production");
  for (const w of workloads) {
    const target = mainContainer(w).image.split(":")[0].split("/").pop();
    const stage = text.split(/^FROM /m).find((s) => new RegExp(`^\\S+ AS ${target}\\s*$`, "m").test(s.split("\n")[0]!));
    expect(stage).toBeDefined();
    const entry = /ENTRYPOINT \["bun", "([^"]+)"\]/.exec(stage!)![1]!;
    expect(Bun.file(join(ROOT, entry)).size).toBeGreaterThan(0);
    for (const m of stage!.matchAll(/^COPY (?!--from)(.+) (\S+)$/gm)) for (const src of m[1]!.split(" ")) expect({ src, exists: existsSync(join(ROOT, src)) }).toEqual({ src, exists: true });
  }
});
