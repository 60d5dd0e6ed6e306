// The command line of `bun run control`, `bun run node` and `bun run dev`, as real processes:
// `--version` and `-h`, start-up errors as one plain sentence (LLORCH_LOG_FORMAT=text, what a
// terminal gets) or a JSON log line (what services and these tests get by default), config
// errors with their line and column, and a node whose model file is missing saying so at start-up.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnService, type Service } from "../harness/process.ts";
import { getJson } from "../harness/sse.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const services: Service[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.stop("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "llorch-cli-"));
  dirs.push(dir);
  return dir;
}

/** Runs an entry point to its end: exit code, stdout, stderr (bounded by the test's timeout). */
async function run(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(["bun", ...args], {
    cwd: ROOT,
    env: { ...process.env, LLORCH_LOG_FORMAT: "", ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  } finally {
    proc.kill("SIGKILL");
  }
}

const ENTRIES = ["actors/control/main.ts", "actors/node/main.ts", "actors/dev.ts"];

test("--version prints 'llama-orch <version>' and -h the usage; both exit 0 and start nothing", async () => {
  const { version } = await Bun.file(join(ROOT, "package.json")).json();
  for (const entry of ENTRIES) {
    const v = await run([entry, "--version"]);
    expect({ entry, ...v }).toEqual({ entry, code: 0, stdout: `llama-orch ${version}\n`, stderr: "" });
    const h = await run([entry, "-h"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toStartWith("usage: bun run ");
    expect(h.stdout).toContain("--version");
    expect(h.stderr).toBe("");
  }
}, 60_000);

test("a config file with a syntax error: one plain sentence with line and column on a terminal, a JSON line otherwise; exit 2", async () => {
  const dir = tempDir();
  const file = join(dir, "control.yaml");
  writeFileSync(file, "admission:\n  capacity: 4\n  policy: [reject\nsse: {}\n");
  const text = await run(["actors/control/main.ts", "--config", file, "--addr", "127.0.0.1:0"], { LLORCH_LOG_FORMAT: "text" });
  expect(text.code).toBe(2);
  expect(text.stdout).toBe("");
  expect(text.stderr).toMatch(new RegExp(`^llama-orch control: ${file.replace(/[.]/g, "\\.")}:4:1: not valid YAML/JSON: [^\\n]+\\n$`));

  const json = await run(["actors/control/main.ts", "--config", file, "--addr", "127.0.0.1:0"]);
  expect(json.code).toBe(2);
  const lines = json.stderr.trim().split("\n").map((l) => JSON.parse(l));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ level: "error", service: "control", event: "startup_refused", msg: expect.stringMatching(new RegExp(`^${file.replace(/[.]/g, "\\.")}:4:1: not valid YAML/JSON: `)) });

  // A schema error names the key's line and column; a missing file says so plainly.
  writeFileSync(file, "admission:\n  capacity: 4\n  polcy: reject\n");
  const schema = await run(["actors/control/main.ts", "--config", file], { LLORCH_LOG_FORMAT: "text" });
  expect(schema).toEqual({ code: 2, stdout: "", stderr: `llama-orch control: ${file}:3:3: admission: Unrecognized key: "polcy" (polcy)\n` });
  const missing = await run(["actors/control/main.ts", "--config", join(dir, "nope.yaml")], { LLORCH_LOG_FORMAT: "text" });
  expect(missing).toEqual({ code: 2, stdout: "", stderr: `llama-orch control: cannot read the config file ${join(dir, "nope.yaml")}: no such file\n` });
  // The node's pools file too.
  const pools = join(dir, "pools.yaml");
  writeFileSync(pools, "pools:\n  - id: p0\n    engine: mock\n    model: tiny\n    slots: 0\n");
  const node = await run(["actors/node/main.ts", "--config", pools], { LLORCH_LOG_FORMAT: "text" });
  expect(node).toEqual({ code: 2, stdout: "", stderr: `llama-orch node: ${pools}:5:12: pools.0.slots: Too small: expected number to be >=1\n` });
}, 60_000);

test("bad flags and settings: exit 2 with a sentence; a port in use: exit 1 with a sentence", async () => {
  expect(await run(["actors/node/main.ts", "--bogus"], { LLORCH_LOG_FORMAT: "text" })).toEqual({ code: 2, stdout: "", stderr: "llama-orch node: unknown option '--bogus' (see --help)\n" });
  expect(await run(["actors/dev.ts", "--addr", "nowhere"], { LLORCH_LOG_FORMAT: "text" })).toEqual({ code: 2, stdout: "", stderr: "llama-orch dev: --addr: expected HOST:PORT, got 'nowhere'\n" });
  const badFormat = await run(["actors/control/main.ts"], { LLORCH_LOG_FORMAT: "xml" });
  expect(badFormat.code).toBe(2);
  expect(JSON.parse(badFormat.stderr.trim())).toMatchObject({ event: "startup_refused", msg: "LLORCH_LOG_FORMAT must be 'json' or 'text', got 'xml'" });

  const taken = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("taken") });
  try {
    const busy = await run(["actors/control/main.ts", "--addr", `127.0.0.1:${taken.port}`], { LLORCH_LOG_FORMAT: "text", ORCHD_STATE_DIR: tempDir() });
    expect(busy.code).toBe(1);
    // Text log lines of what started before; the refusal is the last line.
    expect(busy.stderr).toEndWith(`\nllama-orch control: cannot listen on port ${taken.port}: the address is already in use\n`);
  } finally {
    taken.stop(true);
  }
}, 60_000);

test("a node whose model file is missing says so at start-up, starts no engine, and serves once the file is there and the pool is preloaded", async () => {
  const dir = tempDir();
  const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"]);
  services.push(control);
  const base = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
  const config = join(dir, "pools.yaml");
  writeFileSync(config, ["pools:", "  - id: p0", "    engine: mock-server", "    model: models/later.gguf", "    slots: 1", "    allow_cpu: true", ""].join("\n"));
  const model = join(dir, "models", "later.gguf");
  const node = spawnService(["actors/node/main.ts", "--control", base, "--config", config, "--addr", "127.0.0.1:0", "--node-id", "n1"], { POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "1" });
  services.push(node);
  const said = await node.waitFor((l) => l.event === "model_missing", "the node says the model file is missing");
  expect(said).toMatchObject({ level: "error", pool_id: "p0", reason: `model file ${model} does not exist` });
  await node.waitFor((l) => l.event === "listening", "node listening");
  await control.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("Node n1 registered"), "node registered");
  const health = await getJson(`${base}/v2/pools/p0/health`);
  expect(health).toMatchObject({ live: false, ready: false });
  expect(health.nodes[0]).toMatchObject({ node_id: "n1", ready: false, last_error: `model file ${model} does not exist` });
  // One line, no engine started, no crash, no breaker.
  expect(node.lines.filter((l) => l.event === "model_missing")).toHaveLength(1);
  expect(node.lines.filter((l) => /crashed|circuit breaker|Engine process/i.test(String(l.msg)))).toEqual([]);

  await Bun.write(model, "GGUF");
  const res = await fetch(`${base}/v2/pools/p0/preload`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ pool_id: "p0", ready: true });
  expect((await getJson(`${base}/v2/pools/p0/health`)).nodes[0]).toMatchObject({ ready: true });
}, 60_000);

