// Failure detection and recovery times, measured on this machine with the default timings:
//   engine-kill   SIGKILL of an engine child → control sees the pool unready → ready again
//   engine-hang   SIGSTOP of an engine child → three failed health polls → ready again
//   node-kill     SIGKILL of a node process mid-stream → the client's WORKER_RESET; node Offline
//   node-stall    SIGSTOP of a node process (link stays open) → Offline after the node timeout
//   control-restart  control plane restarted on the same port → the node registered again
// Usage: bun run bench:failover   (results: bench/results/failover-latest.json)

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { poolOf, startCluster, waitForNodes } from "../tests/harness/cluster.ts";
import { spawnService, type Service } from "../tests/harness/process.ts";
import { openSse, submitTask } from "../tests/harness/sse.ts";

const results: Record<string, Record<string, number>> = {};
const ms = (t0: number) => Math.round(performance.now() - t0);

// --- engines in an in-process cluster, default restart policy (first restart after ~1 s) ---
{
  const cluster = await startCluster({
    nodes: [{ id: "n1", pools: [{ id: "p0", engine: "mock-server", model: "tiny", devices: [], slots: 1, allow_cpu: true }] }],
    node: { supervision: {} },
  });
  try {
    await cluster.ready();
    const pid = () => Number(readFileSync(join(cluster.runtimeDirs.get("n1")!, "p0.pid"), "utf8").split("\n")[0]);
    const up = (n: Parameters<typeof poolOf>[0]) => poolOf(n, "n1", "p0")?.ready === true;
    const down = (n: Parameters<typeof poolOf>[0]) => poolOf(n, "n1", "p0")?.ready === false;

    let t0 = performance.now();
    process.kill(pid(), "SIGKILL");
    await waitForNodes(cluster, down);
    const detected = ms(t0);
    await waitForNodes(cluster, up);
    results.engine_kill = { detected_ms: detected, recovered_ms: ms(t0) };

    t0 = performance.now();
    process.kill(pid(), "SIGSTOP");
    await waitForNodes(cluster, down);
    const hangDetected = ms(t0);
    await waitForNodes(cluster, up);
    results.engine_hang = { detected_ms: hangDetected, recovered_ms: ms(t0) };
  } finally {
    await cluster.close();
  }
}

// --- real processes: control + node over WebSocket ---
const dir = mkdtempSync(join(tmpdir(), "llorch-failover-"));
const services: Service[] = [];
try {
  const cfg = join(dir, "pools.yaml");
  writeFileSync(cfg, "pools:\n  - id: p0\n    engine: mock-server\n    model: tiny\n    allow_cpu: true\n    mock:\n      token_delay_ms: 20\n");
  const env = { ORCHESTRATORD_NODE_TIMEOUT_MS: "3000" };
  const startControl = async (addr: string) => {
    const control = spawnService(["actors/control/main.ts", "--addr", addr], env);
    services.push(control);
    return control;
  };
  const control = await startControl("127.0.0.1:0");
  const base = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
  const startNodeProcess = async (id: string) => {
    const node = spawnService(["actors/node/main.ts", "--control", base, "--config", cfg, "--addr", "127.0.0.1:0", "--node-id", id], { POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "1" });
    services.push(node);
    await control.waitFor((l) => l.msg === `Pool p0 on node ${id} is ready`, `${id} ready`);
    return node;
  };

  // node-kill: the client's error arrives when the link closes, not after a timeout.
  const n1 = await startNodeProcess("n1");
  const task = await submitTask(base, { model_ref: "tiny", prompt: "doomed", max_tokens: 4000 }); // within the mock engine's 4096-token context
  const sse = await openSse(`${base}${task.json.streams.sse}`);
  let t0 = 0;
  let reset = 0;
  for await (const f of sse.frames) {
    if (f.event === "token" && f.data.i === 5 && t0 === 0) {
      t0 = performance.now();
      n1.proc.kill("SIGKILL");
    }
    if (f.event === "error") reset = ms(t0);
  }
  await control.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("Node n1 is offline"), "n1 offline");
  results.node_kill = { worker_reset_ms: reset, offline_ms: ms(t0) };

  // node-stall: a frozen node keeps its socket open; only the heartbeat timeout finds it.
  const n2 = await startNodeProcess("n2");
  t0 = performance.now();
  n2.proc.kill("SIGSTOP");
  await control.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("Node n2 is offline"), "n2 offline");
  results.node_stall = { offline_ms: ms(t0), node_timeout_ms: 3000 };
  n2.proc.kill("SIGCONT");

  // control-restart: same port, the node dials again with backoff and registers.
  const port = new URL(base).port;
  await control.stop("SIGTERM");
  t0 = performance.now();
  const again = await startControl(`127.0.0.1:${port}`);
  await again.waitFor((l) => l.msg === "Pool p0 on node n2 is ready", "n2 back");
  results.control_restart = { reregistered_ms: ms(t0) };
} finally {
  for (const s of services.reverse()) await s.stop("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}

console.log(JSON.stringify(results, null, 2));
mkdirSync(join(import.meta.dir, "results"), { recursive: true });
writeFileSync(join(import.meta.dir, "results", "failover-latest.json"), `${JSON.stringify({ date: new Date().toISOString(), ...results }, null, 2)}\n`);
console.log("written to bench/results/failover-latest.json");
