// The agent's pools control over a real (in-memory) link on simulated time: payloads are checked
// where they arrive, unknown pools are NOT_FOUND, and the control plane hears the draining
// heartbeat before the drain's answer.

import { afterEach, expect, test } from "bun:test";
import { ActorSystem, type ActorFactory } from "../../../runtime/index.ts";
import { memoryLinkPair, RemoteEndpoint } from "../../../adapters/transport/index.ts";
import { AGENT_PATH, REGISTRY_PATH, type AgentLinkReplies, type AgentMsg, type HeartbeatMsg, type RegisterMsg } from "../../../contract/link.ts";
import { startPoolFixture, type PoolFixture } from "../../../tests/fixtures/pool-tree.ts";
import { nodeAgent } from "./agent.ts";

let fx: PoolFixture | undefined;
let control: ActorSystem | undefined;
afterEach(async () => {
  await fx?.close();
  await control?.shutdown();
  fx = control = undefined;
});

/** A node (real agent, real pool) linked to a stand-in registry that records what it hears. */
async function setup(options: Parameters<typeof startPoolFixture>[0] = {}) {
  fx = await startPoolFixture({ ...options, agent: (pools, log) => nodeAgent({ nodeId: "n1", version: "test", pools, log, heartbeatMs: 600_000 }) });
  control = new ActorSystem({ name: "control", clock: fx.clock });
  const heard: string[] = [];
  const registry: ActorFactory<RegisterMsg | HeartbeatMsg> = () => ({
    receive(msg) {
      if (msg.type === "register") return { ok: true, heartbeat_ms: 600_000, message: "ok" };
      heard.push(`heartbeat ready=${msg.pools[0]?.ready} draining=${msg.pools[0]?.draining}`);
      return undefined;
    },
  });
  await control.spawn(REGISTRY_PATH, registry);
  const [nodeSide, controlSide] = memoryLinkPair();
  const toNode = new RemoteEndpoint(control, controlSide, { exports: [REGISTRY_PATH] });
  fx.agent.tell({ type: "link-up", endpoint: new RemoteEndpoint(fx.system, nodeSide, { exports: [AGENT_PATH] }) });
  await fx.clock.flush();
  heard.length = 0;
  return { fx, heard, agent: toNode.remoteRef<AgentMsg, AgentLinkReplies>(AGENT_PATH) };
}

test("the draining heartbeat reaches the control plane before the drain's answer", async () => {
  const { heard, agent } = await setup();
  const reply = await agent.ask({ type: "pool-drain", pool_id: "p0", deadline_ms: 1000 }).then((r) => {
    heard.push("answer");
    return r;
  });
  expect(reply).toEqual({ ok: true, node_id: "n1", pool_id: "p0", draining: true, already: false, active_leases: 0 });
  expect(heard.slice(0, 2)).toEqual(["heartbeat ready=false draining=true", "answer"]);
  expect((await fx!.agent.ask({ type: "status" })).pools[0]).toMatchObject({ pool_id: "p0", draining: true });
});

test("health is answered with the node's view of the pool", async () => {
  const { agent } = await setup();
  expect(await agent.ask({ type: "pool-health", pool_id: "p0" })).toEqual({
    ok: true,
    node_id: "n1",
    pool_id: "p0",
    live: true,
    ready: true,
    draining: false,
    engine: "mock",
    engine_version: "mock-1",
    model: "tiny",
    active_leases: 0,
    slots_free: 2,
    slots_total: 2,
  });
});

test("an unknown pool is NOT_FOUND and a malformed payload INVALID_PARAMS, for every operation", async () => {
  const { agent } = await setup();
  const missing = [
    await agent.ask({ type: "pool-health", pool_id: "nope" }),
    await agent.ask({ type: "pool-drain", pool_id: "nope", deadline_ms: 0 }),
    await agent.ask({ type: "pool-reload", pool_id: "nope", new_model_ref: "x", drain_deadline_ms: 0 }),
  ];
  for (const r of missing) expect(r).toMatchObject({ ok: false, node_id: "n1", pool_id: "nope", reason: "not_found", error: { code: "NOT_FOUND" } });

  const bad = [
    await agent.ask({ type: "pool-drain", pool_id: "p0", deadline_ms: -1 }),
    await agent.ask({ type: "pool-drain", pool_id: "p0", deadline_ms: "soon" } as never),
    await agent.ask({ type: "pool-reload", pool_id: "p0", new_model_ref: "", drain_deadline_ms: 0 }),
    await agent.ask({ type: "pool-health", pool_id: "p0", extra: true } as never),
  ];
  for (const r of bad) expect(r).toMatchObject({ ok: false, reason: "invalid", error: { code: "INVALID_PARAMS" } });
  expect(bad[0]).toMatchObject({ error: { message: expect.stringContaining("deadline_ms") } });
  // Nothing happened to the pool.
  expect((await fx!.agent.ask({ type: "status" })).pools[0]).toMatchObject({ ready: true, draining: false });
});

test("a reload over the link answers once the new engine is ready, with the new model heartbeated first", async () => {
  const { heard, agent } = await setup({ faultsFor: { slow: { startDelayMs: 0 } } });
  const reply = await agent.ask({ type: "pool-reload", pool_id: "p0", new_model_ref: "slow", drain_deadline_ms: 1000 }, { timeoutMs: 60_000 });
  expect(reply).toMatchObject({ ok: true, unchanged: false, previous_model: "tiny", model: "slow" });
  expect(heard.at(-1)).toBe("heartbeat ready=true draining=false");
  expect((await fx!.agent.ask({ type: "status" })).pools[0]).toMatchObject({ ready: true, models_available: ["slow"] });
});
