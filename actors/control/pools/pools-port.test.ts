// The pools port on simulated time with stand-in agents: an unreachable node reads live:false after
// the health deadline, an offline one at once; drain outcomes map to 202 / 409 / 503 / 404.

import { afterEach, expect, test } from "bun:test";
import { ActorSystem, SimClock, type ActorFactory, type ActorRef } from "../../../runtime/index.ts";
import type { PoolView } from "../../../contract/index.ts";
import type { AgentMsg, AgentRef, NodePoolHealth } from "../../../contract/link.ts";
import type { PoolHolder, RegistryMsg, RegistryRef } from "../registry/protocol.ts";
import { createPoolsPort } from "./pools-port.ts";

let system: ActorSystem | undefined;
afterEach(async () => {
  await system?.shutdown();
  system = undefined;
});

const view = (over: Partial<PoolView> = {}): PoolView => ({
  pool_id: "p0", ready: true, draining: false, engine: "mock", engine_version: "mock-1",
  slots_total: 2, slots_free: 2, models_available: ["tiny"], ...over,
});

const health = (nodeId: string, over: Partial<NodePoolHealth> = {}): NodePoolHealth => ({
  node_id: nodeId, pool_id: "p0", live: true, ready: true, draining: false, engine: "mock", engine_version: "mock-1",
  model: "tiny", active_leases: 1, slots_free: 1, slots_total: 2, ...over,
});

type Answer = (msg: AgentMsg) => unknown;

async function setup(nodes: { id: string; online?: boolean; answer?: Answer }[]) {
  const clock = new SimClock(5_000);
  system = new ActorSystem({ name: "pools-port-test", clock });
  const holders: PoolHolder[] = [];
  for (const n of nodes) {
    // No `answer`: the agent takes the ask and never replies, like a node behind a dead link.
    const agent: ActorFactory<AgentMsg> = (ctx) => ({ receive: (msg) => (n.answer ? n.answer(msg) : void ctx.takeReply()) });
    const ref = (await system.spawn<AgentMsg>(`agents/${n.id}`, agent)) as ActorRef<AgentMsg> as AgentRef;
    holders.push({ node_id: n.id, online: n.online ?? true, agent: ref, pool: view() });
  }
  const registry = (await system.spawn<RegistryMsg>("control/registry", () => ({
    receive: (msg) => (msg.type === "pool-agents" ? holders.filter((h) => msg.pool_id === "p0") : msg.type === "list" ? [] : undefined),
  }))) as unknown as RegistryRef;
  const drains: string[] = [];
  const drainEvents = { inc: (l: { pool_id: string; reason: string }) => void drains.push(`${l.pool_id}:${l.reason}`) };
  return { clock, drains, port: createPoolsPort(registry, { clock, healthTimeoutMs: 2000, drainTimeoutMs: 1000, queueDepth: async () => 3, drainEvents }) };
}

test("an unreachable node reads live:false after the deadline, an offline one at once; the rest is summed", async () => {
  const { clock, port } = await setup([
    { id: "n1", answer: () => ({ ok: true, ...health("n1") }) },
    { id: "n2" },
    { id: "n3", online: false },
  ]);
  let outcome: Awaited<ReturnType<typeof port.health>> | undefined;
  const pending = port.health("p0").then((o) => (outcome = o));
  await clock.advance(1999);
  expect(outcome).toBeUndefined();
  await clock.advance(1);
  await pending;
  expect(outcome).toMatchObject({
    ok: true,
    value: {
      pool_id: "p0",
      live: true,
      ready: true,
      draining: false,
      metrics: { active_leases: 1, slots_free: 1, slots_total: 6, queue_depth: 3 },
      engine_version: "mock-1",
      models_available: ["tiny"],
    },
  });
  const nodes = outcome!.ok ? outcome!.value.nodes : [];
  expect(nodes.map((n) => [n.node_id, n.live, n.ready])).toEqual([
    ["n1", true, true],
    ["n2", false, false],
    ["n3", false, false],
  ]);
  expect(nodes[1]!.last_error).toContain("node n2 did not answer");
  expect(nodes[2]!.last_error).toBe("node n3 is offline");
});

test("health of an unknown pool, or of a node that does not hold it, is NOT_FOUND", async () => {
  const { port } = await setup([{ id: "n1", answer: () => ({ ok: true, ...health("n1") }) }]);
  expect(await port.health("nope")).toMatchObject({ ok: false, error: { code: "NOT_FOUND", message: "pool nope not found" } });
  expect(await port.health("p0", { nodeId: "n9" })).toMatchObject({ ok: false, error: { code: "NOT_FOUND", message: "pool p0 is not on node n9" } });
});

test("drain: accepted anywhere → 202 with each node's outcome; busy everywhere → 409; none online → 503", async () => {
  const busy = (msg: AgentMsg) => ({ ok: false, node_id: "x", pool_id: "p0", reason: "busy", error: { code: "POOL_UNAVAILABLE", message: `busy (${msg.type})` } });
  const accept = () => ({ ok: true, node_id: "x", pool_id: "p0", draining: true, already: false, active_leases: 2 });

  let s = await setup([{ id: "n1", answer: accept }, { id: "n2", answer: busy }, { id: "n3", online: false }]);
  const mixed = await s.port.drain("p0", { deadline_ms: 100 });
  expect(mixed).toEqual({
    ok: true,
    value: {
      pool_id: "p0",
      draining: true,
      deadline_ms: 100,
      nodes: [
        { node_id: "n1", draining: true, already: false, active_leases: 2 },
        { node_id: "n2", draining: false, error: { code: "POOL_UNAVAILABLE", message: "busy (pool-drain)" } },
        { node_id: "n3", draining: false, error: expect.objectContaining({ code: "NODE_UNAVAILABLE", message: "node n3: offline" }) },
      ],
    },
  });
  expect(s.drains).toEqual(["p0:api_request"]);
  await system!.shutdown();

  s = await setup([{ id: "n1", answer: busy }]);
  expect(await s.port.drain("p0", { deadline_ms: 100 })).toMatchObject({ ok: false, conflict: true, error: { code: "POOL_UNAVAILABLE" } });
  expect(s.drains).toEqual([]);
  await system!.shutdown();

  s = await setup([{ id: "n1", online: false }]);
  expect(await s.port.drain("p0", { deadline_ms: 100 })).toMatchObject({ ok: false, conflict: false, error: { code: "NODE_UNAVAILABLE" } });
  expect(await s.port.reload("p0", { new_model_ref: "x" })).toMatchObject({ ok: false, error: { code: "NODE_UNAVAILABLE", message: "no node holding pool p0 is online" } });
  expect(await s.port.drain("nope", { deadline_ms: 100 })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
});

test("reload: a node that does not answer in time leaves the outcome unknown (503), not rolled back", async () => {
  const { clock, port } = await setup([{ id: "n1" }]);
  let outcome: Awaited<ReturnType<typeof port.reload>> | undefined;
  const pending = port.reload("p0", { new_model_ref: "x", deadline_ms: 1000 }).then((o) => (outcome = o));
  await clock.advance(1000 + 300_000);
  await pending;
  expect(outcome).toMatchObject({ ok: false, error: { code: "NODE_UNAVAILABLE" }, rolled_back: false, nodes: [{ node_id: "n1", success: false }] });
  expect(outcome!.ok === false && outcome!.conflict).toBe(false);
});
