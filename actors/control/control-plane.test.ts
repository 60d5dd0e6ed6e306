// Control plane assembly: the heartbeat interval nodes are told follows the node timeout,
// readiness reflects the actor tree, and admission refuses while the state store is behind.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, RealClock } from "../../runtime/index.ts";
import { HTTP_STATUS } from "../../contract/index.ts";
import { REGISTRY_PATH } from "../../contract/link.ts";
import { parseExposition } from "../../adapters/metrics/index.ts";
import { startControlPlane, type ControlPlane } from "./control-plane.ts";
import type { RegistryRef } from "./registry/protocol.ts";

let plane: ControlPlane | undefined;
const dir = mkdtempSync(join(tmpdir(), "control-plane-test-"));
const roots = { stateDir: join(dir, "state") };
afterEach(async () => {
  await plane?.shutdown();
  plane = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const log = createLogger({ clock: new RealClock(), sink: () => {} });

test("nodes are told to heartbeat at a third of a short node timeout", async () => {
  plane = await startControlPlane({ log, nodeTimeoutMs: 900, ...roots });
  const registry: RegistryRef = plane.system.ref(REGISTRY_PATH);
  const agent = plane.system.ref<never>("nowhere");
  const reply = await registry.ask({ type: "register", node_id: "n1", pools: [], agent });
  expect(reply).toMatchObject({ ok: true, heartbeat_ms: 300 });
});

test("the default heartbeat stays at 10 s for the default 30 s timeout", async () => {
  plane = await startControlPlane({ log, ...roots });
  const registry: RegistryRef = plane.system.ref(REGISTRY_PATH);
  const reply = await registry.ask({ type: "register", node_id: "n1", pools: [], agent: plane.system.ref<never>("nowhere") });
  expect(reply.heartbeat_ms).toBe(10_000);
});

test("ready reflects the actor tree", async () => {
  plane = await startControlPlane({ log, ...roots });
  expect(await plane.port.ready()).toEqual({ ready: true, nodes_online: 0 });
  await plane.shutdown();
  expect((await plane.port.ready()).ready).toBe(false);
});

test("while the store's write queue is above its high-water mark, tasks are refused with a retriable 503, and counted", async () => {
  const lines: string[] = [];
  const logged = createLogger({ clock: new RealClock(), sink: (l) => void lines.push(l) });
  // Writes wait a minute for company: the queue only empties when flushed.
  plane = await startControlPlane({ log: logged, ...roots, storeQueue: { highWaterItems: 2, flushMs: 60_000 } });
  const writes = [1, 2, 3].map((i) => plane!.store.sessions.put(`s${i}`, { turns: 1 }, { expires_ms: Date.now() + 60_000 }));
  const request = { model_ref: "tiny", prompt: "x", max_tokens: 4 } as Parameters<typeof plane.port.submit>[0];
  const refused = await plane.port.submit(request, { correlationId: "c1" });
  expect(refused).toMatchObject({ ok: false, error: { code: "REPLICA_EXHAUSTED", retriable: true, retry_after_ms: expect.any(Number), policy_label: "store.backlog" } });
  expect(HTTP_STATUS[refused.ok ? "INTERNAL" : refused.error.code]).toBe(503);
  const scrape = parseExposition(await plane.metrics.registry.metrics()).samples;
  expect(scrape.find((s) => s.name === "store_backpressure_total")?.value).toBe(1);
  expect(scrape.find((s) => s.name === "store_write_queue_depth")?.value).toBe(3);
  expect(lines.filter((l) => l.includes("State store is behind"))).toHaveLength(1);

  await plane.store.flush();
  await Promise.all(writes);
  const after = await plane.port.submit(request, { correlationId: "c2" });
  expect(after.ok || after.error.code).not.toBe("REPLICA_EXHAUSTED");
  expect(lines.some((l) => l.includes("State store caught up"))).toBe(true);
});

test("a restarted control plane finds its catalog and sessions in the state directory", async () => {
  plane = await startControlPlane({ log, ...roots });
  expect((await plane.catalog.create({ id: "kept" }, {})).ok).toBe(true);
  await plane.store.sessions.put("s1", { turns: 3, spentTokens: 0, spentTimeMs: 0, spentCost: 0, kvWarmth: false }, { expires_ms: Date.now() + 60_000 });
  await plane.shutdown();
  plane = await startControlPlane({ log, ...roots });
  expect((await plane.catalog.get("kept"))?.id).toBe("kept");
  expect((await plane.sessions.get("s1"))?.turns).toBe(3);
});
