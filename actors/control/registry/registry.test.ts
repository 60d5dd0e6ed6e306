// Node registry on simulated time: registration, heartbeats, staleness → offline → node-lost,
// a closed link marks its nodes offline at once, and a heartbeat brings a node back.

import { afterEach, expect, test } from "bun:test";
import { ActorSystem, createLogger, SimClock, type ActorRef } from "../../../runtime/index.ts";
import { createControlMetrics } from "../../../adapters/metrics/index.ts";
import type { PoolView } from "../../../contract/index.ts";
import type { AgentMsg } from "../../../contract/link.ts";
import type { SchedulerMsg } from "../scheduler/protocol.ts";
import type { RegistryMsg, RegistryReplies } from "./protocol.ts";
import { nodeRegistry } from "./registry.ts";

let system: ActorSystem | undefined;
afterEach(async () => {
  await system?.shutdown();
  system = undefined;
});

const pool: PoolView = { pool_id: "p0", ready: true, draining: false, engine: "mock", slots_total: 1, slots_free: 1, models_available: ["tiny"] };

async function setup() {
  const clock = new SimClock(1_000_000);
  system = new ActorSystem({ name: "registry-test", clock });
  const seen: SchedulerMsg[] = [];
  await system.spawn<SchedulerMsg>("control/scheduler", () => ({ receive: (m) => void seen.push(m) }));
  const agent: ActorRef<AgentMsg> = await system.spawn<AgentMsg>("fake/agent", () => ({ receive: () => undefined }));
  const metrics = createControlMetrics();
  const registry = await system.spawn<RegistryMsg, RegistryReplies>(
    "control/registry",
    nodeRegistry({
      scheduler: system.ref("control/scheduler"),
      log: createLogger({ clock, sink: () => {} }),
      metrics,
      nodeTimeoutMs: 30_000,
      heartbeatMs: 10_000,
      sweepMs: 10_000,
    }),
  );
  return { clock, seen, agent, registry, metrics };
}

test("a node without heartbeats goes offline after the timeout and the scheduler hears of it", async () => {
  const { clock, seen, agent, registry, metrics } = await setup();
  const reply = await registry.ask({ type: "register", node_id: "n1", pools: [pool], agent });
  expect(reply).toMatchObject({ ok: true, heartbeat_ms: 10_000 });
  expect((await registry.ask({ type: "list" }))[0]!.status).toBe("Online");
  expect((await metrics.nodesOnline.get()).values[0]!.value).toBe(1);

  await clock.advance(20_000);
  expect((await registry.ask({ type: "heartbeat", node_id: "n1", pools: [pool] })).ok).toBe(true);
  await clock.advance(29_000);
  expect((await registry.ask({ type: "list" }))[0]!.status).toBe("Online");
  expect(seen.some((m) => m.type === "node-lost")).toBe(false);

  await clock.advance(11_000); // 40 s since the last heartbeat, swept at the next 10 s tick
  expect((await registry.ask({ type: "list" }))[0]!.status).toBe("Offline");
  expect(seen.filter((m) => m.type === "node-lost")).toEqual([{ type: "node-lost", node_id: "n1", reason: expect.stringContaining("no heartbeat") }]);
  expect((await metrics.nodesOnline.get()).values[0]!.value).toBe(0);
  const last = seen.filter((m) => m.type === "nodes").at(-1) as Extract<SchedulerMsg, { type: "nodes" }>;
  expect(last.nodes[0]!.online).toBe(false);

  // A heartbeat brings it back.
  await registry.ask({ type: "heartbeat", node_id: "n1", pools: [pool] });
  expect((await registry.ask({ type: "list" }))[0]!.status).toBe("Online");
});

test("heartbeats from unknown nodes and malformed registrations are refused, not crashes", async () => {
  const { registry, agent } = await setup();
  expect((await registry.ask({ type: "heartbeat", node_id: "ghost", pools: [] })).ok).toBe(false);
  const bad = await registry.ask({ type: "register", node_id: "", pools: [pool], agent });
  expect(bad.ok).toBe(false);
  expect(bad.message).toContain("invalid registration");
  expect(await registry.ask({ type: "list" })).toEqual([]);
});

test("deregister removes the node and announces it; unknown ids answer false", async () => {
  const { registry, agent, seen } = await setup();
  await registry.ask({ type: "register", node_id: "n1", pools: [pool], agent });
  expect(await registry.ask({ type: "deregister", node_id: "n1" })).toBe(true);
  expect(await registry.ask({ type: "deregister", node_id: "n1" })).toBe(false);
  expect(await registry.ask({ type: "list" })).toEqual([]);
  expect(seen.some((m) => m.type === "node-lost" && m.reason === "deregistered")).toBe(true);
});
