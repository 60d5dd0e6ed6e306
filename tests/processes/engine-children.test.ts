// The node over real processes with real engine children: `bun run control` plus
// `bun run node` processes whose pools run the mock engine program as detached children. A node
// SIGKILLed mid-stream: the client gets WORKER_RESET, the next task runs on the other node, and
// the dead node's engine does not outlive it. A restarted control plane is rejoined without an
// engine restart. GPUs through the fake NVML library, and the GPU-only rule without a library.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseExposition } from "../../adapters/metrics/index.ts";
import { isAlive, readPidFile } from "../../host/index.ts";
import { buildFakeNvml, canBuildFakeNvml } from "../fixtures/nvml/index.ts";
import { spawnService, type LogLine, type Service } from "../harness/process.ts";
import { collect, getJson, openSse, submitTask, type Frame } from "../harness/sse.ts";

const HAVE_SETPRIV = Bun.which("setpriv") !== null;
const HAVE_GCC = canBuildFakeNvml();
if (!HAVE_GCC) console.warn("processes-engines: gcc is missing, skipping the fake NVML test (it builds tests/fixtures/nvml/fake-nvml.c)");
if (!HAVE_SETPRIV) console.warn("processes-engines: setpriv is missing, so a SIGKILLed node's engine outlives it; the no-orphan check is skipped");

const services: Service[] = [];
/** Engine pids seen by a test: any still alive afterwards (no setpriv) are stopped here. */
const engines: number[] = [];
let dir: string | undefined;

afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.stop("SIGKILL");
  for (const pid of engines.splice(0)) {
    if (!isAlive(pid)) continue;
    try {
      process.kill(-pid, "SIGKILL"); // the engine leads its own process group
    } catch {
      // gone meanwhile
    }
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

type Pool = Record<string, unknown>;

function enginePool(id: string, extra: Pool = {}): Pool {
  return { id, engine: "mock-server", model: "tiny", slots: 1, allow_cpu: true, mock: { token_delay_ms: 20 }, ...extra };
}

function writeConfig(name: string, pools: Pool[]): string {
  dir ??= mkdtempSync(join(tmpdir(), "llorch-proc-engines-"));
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ pools })); // JSON is valid YAML
  return path;
}

async function startControl(addr = "127.0.0.1:0"): Promise<{ control: Service; base: string }> {
  const control = spawnService(["actors/control/main.ts", "--addr", addr]);
  services.push(control);
  const listening = await control.waitFor((l) => l.event === "listening", "control listening");
  return { control, base: String(listening.url).replace(/\/$/, "") };
}

function startNode(base: string, id: string, pools: Pool[], env: Record<string, string> = {}): Service {
  const node = spawnService(["actors/node/main.ts", "--control", base, "--config", writeConfig(id, pools), "--addr", "127.0.0.1:0", "--node-id", id], {
    POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "1",
    ...env,
  });
  services.push(node);
  return node;
}

const poolReady = (pool: string, node: string) => (l: LogLine) => l.msg === `Pool ${pool} on node ${node} is ready`;

/** The engine pid from the node's pid file (first line); the file exists while the engine runs. */
function enginePid(node: Service, pool: string): number {
  const file = readPidFile(join(node.runtimeDir, `${pool}.pid`));
  if (!file) throw new Error(`no pid file for pool ${pool} in ${node.runtimeDir}`);
  engines.push(file.pid);
  return file.pid;
}

function engineStarts(node: Service, pool: string): number {
  return readFileSync(join(node.runtimeDir, `engine-${pool}.log`), "utf8").split("\n").filter((l) => / starting: /.test(l)).length;
}

/**
 * Waits (bounded) until `pid` is gone or a zombie. The kernel sends the pdeath signal when the
 * node exits, but nothing tells a non-parent when the engine has finished dying, so this polls.
 */
async function gone(pid: number, withinMs = 5000): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  while (isAlive(pid) && performance.now() < deadline) await Bun.sleep(10);
  return !isAlive(pid);
}

async function nodeUrl(node: Service): Promise<string> {
  return String((await node.waitFor((l) => l.event === "listening", "node listening")).url).replace(/\/$/, "");
}

test("a node SIGKILLed mid-stream: WORKER_RESET, the next task runs on the other node, no engine is left behind", async () => {
  const { control, base } = await startControl();
  const nodes = new Map([
    ["n1", startNode(base, "n1", [enginePool("p0")])],
    ["n2", startNode(base, "n2", [enginePool("p0")])],
  ]);
  await control.waitFor(poolReady("p0", "n1"), "p0 on n1 ready");
  await control.waitFor(poolReady("p0", "n2"), "p0 on n2 ready");
  const pids = new Map([...nodes].map(([id, s]) => [id, enginePid(s, "p0")]));
  for (const pid of pids.values()) expect(isAlive(pid)).toBe(true);

  // Long, within the mock engine's 4096-token context (its pool reports it as ctx_max).
  const long = await submitTask(base, { model_ref: "tiny", prompt: "doomed", max_tokens: 4000 });
  expect(long.status).toBe(202);
  const sse = await openSse(`${base}${long.json.streams.sse}`);
  const frames: Frame[] = [];
  let victim: string | undefined;
  for await (const f of sse.frames) {
    frames.push(f);
    if (f.event === "started") victim = f.data.node_id;
    if (f.event === "token" && f.data.i === 2) nodes.get(victim!)!.proc.kill("SIGKILL");
  }
  expect(victim === "n1" || victim === "n2").toBe(true);
  const survivor = victim === "n1" ? "n2" : "n1";
  expect(frames.at(-1)).toMatchObject({ event: "error", data: { code: "WORKER_RESET", retriable: true } });
  expect(frames.filter((f) => f.event === "end")).toHaveLength(0);

  const next = await submitTask(base, { model_ref: "tiny", prompt: "elsewhere", max_tokens: 5 });
  expect(next.status).toBe(202);
  const after = (await collect(`${base}${next.json.streams.sse}`)).frames.filter((f) => f.event !== "metrics");
  expect(after[0]).toMatchObject({ event: "started", data: { node_id: survivor } });
  expect(after.map((f) => f.event)).toEqual(["started", "token", "token", "token", "token", "token", "end"]);
  expect(after.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 5 } });

  await nodes.get(victim!)!.exited;
  expect(isAlive(pids.get(survivor)!)).toBe(true);
  // setpriv --pdeathsig KILL ties the engine to its node; without setpriv the next node start reaps it.
  if (HAVE_SETPRIV) expect(await gone(pids.get(victim!)!)).toBe(true);
}, 30_000);

test("a restarted control plane is rejoined without restarting the engine", async () => {
  const { control, base } = await startControl();
  const node = startNode(base, "n1", [enginePool("p0", { mock: { token_delay_ms: 1 } })]);
  await control.waitFor(poolReady("p0", "n1"), "p0 ready");
  const before = enginePid(node, "p0");
  expect(engineStarts(node, "p0")).toBe(1);

  expect(await control.stop("SIGTERM")).toBe(0);
  const again = spawnService(["actors/control/main.ts", "--addr", `127.0.0.1:${new URL(base).port}`]);
  services.push(again);
  await again.waitFor(poolReady("p0", "n1"), "node re-registered with the new control plane");

  expect(enginePid(node, "p0")).toBe(before);
  expect(isAlive(before)).toBe(true);
  expect(engineStarts(node, "p0")).toBe(1);
  const t = await submitTask(base, { model_ref: "tiny", prompt: "after restart", max_tokens: 5 });
  expect(t.status).toBe(202);
  const kinds = (await collect(`${base}${t.json.streams.sse}`)).frames.filter((f) => f.event !== "metrics").map((f) => f.event);
  expect(kinds).toEqual(["started", "token", "token", "token", "token", "token", "end"]);
}, 30_000);

test.skipIf(!HAVE_GCC)("GPUs through the fake NVML library: inventory in GET /v2/nodes, per-device metrics, a GPU pool runs", async () => {
  const GiB = 1024 ** 3;
  const { control, base } = await startControl();
  const node = startNode(base, "n1", [enginePool("g0", { allow_cpu: undefined, devices: [1] })], {
    NVML_LIBRARY_PATH: buildFakeNvml(),
    FAKE_NVML_GPUS: "2",
    FAKE_NVML_DRIVER: "555.42.02",
    FAKE_NVML_NAME_0: "NVIDIA H100 80GB HBM3",
    FAKE_NVML_NAME_1: "NVIDIA A100-SXM4-40GB",
    FAKE_NVML_VRAM_TOTAL_0: String(80 * GiB),
    FAKE_NVML_VRAM_TOTAL_1: String(40 * GiB),
    FAKE_NVML_VRAM_USED_0: String(3 * GiB),
    FAKE_NVML_VRAM_USED_1: String(5 * GiB),
    FAKE_NVML_CC_0: "9.0",
    FAKE_NVML_CC_1: "8.0",
    FAKE_NVML_UTIL_GPU_0: "37",
    FAKE_NVML_UTIL_GPU_1: "64",
    POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS: "100",
  });
  await control.waitFor(poolReady("g0", "n1"), "GPU pool g0 ready");

  const listed = await getJson(`${base}/v2/nodes`);
  const n1 = listed.nodes.find((n: any) => n.node_id === "n1");
  expect(n1.capabilities.driver_version).toBe("555.42.02");
  expect(n1.capabilities.gpu_reason).toBeUndefined();
  expect(n1.capabilities.gpus).toHaveLength(2);
  expect(n1.capabilities.gpus[0]).toMatchObject({ index: 0, name: "NVIDIA H100 80GB HBM3", vram_total_bytes: 80 * GiB, vram_used_bytes: 3 * GiB, compute_capability: "9.0" });
  expect(n1.capabilities.gpus[1]).toMatchObject({ index: 1, name: "NVIDIA A100-SXM4-40GB", vram_total_bytes: 40 * GiB, vram_used_bytes: 5 * GiB, compute_capability: "8.0" });
  expect(n1.pools.find((p: any) => p.pool_id === "g0")).toMatchObject({ ready: true });
  expect(n1.pools.find((p: any) => p.pool_id === "g0").last_error).toBeUndefined();

  // The engine sees only its device, numbered as NVML numbers it.
  const environ = readFileSync(`/proc/${enginePid(node, "g0")}/environ`, "utf8").split("\0");
  expect(environ).toContain("CUDA_VISIBLE_DEVICES=1");
  expect(environ).toContain("CUDA_DEVICE_ORDER=PCI_BUS_ID");

  // The monitor samples when it starts, before any pool is ready.
  const { samples } = parseExposition(await (await fetch(`${await nodeUrl(node)}/metrics`)).text());
  const value = (name: string, device: string) => samples.find((s) => s.name === name && s.labels.node_id === "n1" && s.labels.device === device)?.value;
  expect([value("gpu_utilization", "0"), value("gpu_utilization", "1")]).toEqual([37, 64]);
  expect([value("vram_used_bytes", "0"), value("vram_used_bytes", "1")]).toEqual([3 * GiB, 5 * GiB]);
  expect(node.lines.some((l) => l.msg === "Found 2 GPU(s), driver 555.42.02")).toBe(true);
}, 30_000);

test("GPU-only rule: without an NVML library a GPU pool does not start and says why; an allow_cpu pool runs", async () => {
  const missing = "/nonexistent/libnvidia-ml.so.1";
  const { control, base } = await startControl();
  const node = startNode(base, "n1", [enginePool("g0", { allow_cpu: undefined }), enginePool("c0")], { NVML_LIBRARY_PATH: missing });
  await control.waitFor(poolReady("c0", "n1"), "CPU pool c0 ready");

  const listed = await getJson(`${base}/v2/nodes`);
  const n1 = listed.nodes.find((n: any) => n.node_id === "n1");
  expect(n1.capabilities.gpus).toEqual([]);
  expect(n1.capabilities.gpu_reason).toContain(missing);
  const g0 = n1.pools.find((p: any) => p.pool_id === "g0");
  expect(g0.ready).toBe(false);
  expect(g0.last_error).toContain(missing);
  expect(g0.last_error).toContain("allow_cpu");
  expect(n1.pools.find((p: any) => p.pool_id === "c0")).toMatchObject({ ready: true });

  // The refused pool never started an engine; the CPU pool did, and the node warned about it.
  expect(readPidFile(join(node.runtimeDir, "g0.pid"))).toBeUndefined();
  expect(isAlive(enginePid(node, "c0"))).toBe(true);
  expect(node.lines.some((l) => l.level === "warn" && String(l.msg).includes("pool c0 runs on the CPU"))).toBe(true);

  // A task for the model runs on the CPU pool, the only one that can take it.
  const t = await submitTask(base, { model_ref: "tiny", prompt: "cpu", max_tokens: 3 });
  const frames = (await collect(`${base}${t.json.streams.sse}`)).frames;
  expect(frames[0]).toMatchObject({ event: "started", data: { pool_id: "c0" } });
  expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 3 } });
}, 30_000);
