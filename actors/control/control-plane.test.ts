// Control plane assembly: the heartbeat interval nodes are told follows the node timeout, and
// readiness reflects the actor tree.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, RealClock } from "../../runtime/index.ts";
import { REGISTRY_PATH } from "../../contract/link.ts";
import { startControlPlane, type ControlPlane } from "./control-plane.ts";
import type { RegistryRef } from "./registry/protocol.ts";

let plane: ControlPlane | undefined;
const dir = mkdtempSync(join(tmpdir(), "control-plane-test-"));
const roots = { catalogRoot: join(dir, "catalog"), artifactsRoot: join(dir, "artifacts") };
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
