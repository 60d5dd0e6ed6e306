// The handoff watcher binds an engine something else started: an engine process we run
// ourselves writes nothing, we write its handoff file, and the node serves it as a pool without
// ever starting or stopping it.

import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, isAlive, stopGroup, waitHealthy } from "../../host/index.ts";
import { mockEngineArgv } from "../../engines/mock-server/main.ts";
import { poolOf, startCluster, waitForNodes, type Cluster } from "../harness/cluster.ts";
import { nodeSystem, whenEvent } from "../harness/pools.ts";
import { collect, submitTask } from "../harness/sse.ts";

let cluster: Cluster | undefined;
let external: ReturnType<typeof Bun.spawn> | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
  if (external) await stopGroup(external.pid, { graceMs: 1000 }).catch(() => undefined);
  external = undefined;
});

test("an engine started elsewhere is bound from its handoff file and serves tasks; the node never stops it", async () => {
  const port = freePort();
  external = Bun.spawn(mockEngineArgv(["--port", String(port), "--model", "ext-model"]), { detached: true, stdout: "ignore", stderr: "ignore" });
  await waitHealthy(`http://127.0.0.1:${port}`, { intervalMs: 20, exited: external.exited.then((code) => ({ code, signal: null })) });

  cluster = await startCluster({ nodes: [{ id: "n1", pools: [] }], node: { handoff: { intervalMs: 50 } } });
  const c = cluster;
  const dir = join(c.runtimeDirs.get("n1")!, "engines");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "ext-r0.json");
  // The watcher hears back once the bind and the file's deletion are done.
  const processed = whenEvent(nodeSystem(c, "n1"), (e) => e.type === "delivered" && e.path.endsWith("/handoff") && e.msg === "handoff-bound");
  writeFileSync(file, JSON.stringify({ engine: "llamacpp", url: `http://127.0.0.1:${port}`, pool_id: "ext", replica_id: "r0", model: { id: "ext-model" }, slots_total: 1 }, null, 2));

  const nodes = await waitForNodes(c, (n) => poolOf(n, "n1", "ext")?.ready === true);
  expect(poolOf(nodes, "n1", "ext")).toMatchObject({ engine: "llamacpp", models_available: ["ext-model"], slots_total: 1 });
  await processed;
  expect(existsSync(file)).toBe(false); // processed and removed (POOL_MANAGERD_AUTO_DELETE_HANDOFF)

  const t = await submitTask(c.url, { model_ref: "ext-model", prompt: "bound", max_tokens: 4 });
  const frames = (await collect(`${c.url}${t.json.streams.sse}`)).frames.filter((f) => f.event !== "metrics");
  expect(frames.map((f) => f.event)).toEqual(["started", "token", "token", "token", "token", "end"]);

  const { samples } = await import("../../adapters/metrics/index.ts").then(async (m) => m.parseExposition(await c.nodeMetrics.get("n1")!.registry.metrics()));
  expect(samples.find((s) => s.name === "pool_handoff_files_processed_total" && s.labels.outcome === "bound")?.value).toBe(1);

  await c.close();
  cluster = undefined;
  expect(isAlive(external.pid)).toBe(true); // not ours to stop
}, 30_000);
