// The registry's side of link identity: a link speaks for the node id it registered, a live id
// stays with its link, a silent one may be taken over (the old link fenced), a closed link frees
// its id, and REST may not heartbeat or deregister a node a live link speaks for.

import { afterEach, expect, test } from "bun:test";
import { ActorSystem, createLogger, SimClock, type ActorRef } from "../../../runtime/index.ts";
import { createControlMetrics } from "../../../adapters/metrics/index.ts";
import type { PoolView } from "../../../contract/index.ts";
import type { AgentMsg } from "../../../contract/link.ts";
import { NodeLinks } from "../links/link-book.ts";
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
  system = new ActorSystem({ name: "registry-links-test", clock });
  await system.spawn("control/scheduler", () => ({ receive: () => undefined }));
  const local = await system.spawn<AgentMsg>("fake/agent", () => ({ receive: () => undefined }));
  // What an agent ref that came over a link looks like to the registry: a ref with its link's id.
  const over = (linkId: string): ActorRef<AgentMsg> => Object.assign(Object.create(local), { linkId });
  const links = new NodeLinks();
  const metrics = createControlMetrics();
  const registry = await system.spawn<RegistryMsg, RegistryReplies>(
    "control/registry",
    nodeRegistry({ scheduler: system.ref("control/scheduler"), log: createLogger({ clock, sink: () => {} }), metrics, nodeTimeoutMs: 30_000, heartbeatMs: 10_000, sweepMs: 10_000, links }),
  );
  const register = (node_id: string, linkId: string) => registry.ask({ type: "register", node_id, pools: [pool], agent: over(linkId) });
  return { clock, registry, links, metrics, register };
}

test("a live id stays with its link; a silent one may be taken over and the old link is fenced; a closed link frees its id", async () => {
  const { clock, registry, links, metrics, register } = await setup();
  expect((await register("n1", "L1")).ok).toBe(true);
  expect(links.nodeOf("L1")).toBe("n1");
  expect(await register("n2", "L1")).toMatchObject({ ok: false, message: expect.stringContaining("speaks for node n1") });
  expect(await register("n1", "L2")).toMatchObject({ ok: false, message: expect.stringContaining("another live link") });
  expect((await metrics.linkRejected.get()).values.find((v) => v.labels.reason === "node")?.value).toBe(2);

  await clock.advance(45_000); // n1 goes silent: Offline, its link still open
  expect((await registry.ask({ type: "list" }))[0]!.status).toBe("Offline");
  expect((await register("n1", "L2")).ok).toBe(true);
  // The old link still speaks for n1 in name only: its heartbeats and deregistrations are refused.
  expect((await registry.ask({ type: "heartbeat", node_id: "n1", pools: [pool], link_id: "L1" })).ok).toBe(false);
  expect(await registry.ask({ type: "deregister", node_id: "n1", link_id: "L1" })).toBe(false);
  expect((await registry.ask({ type: "heartbeat", node_id: "n1", pools: [pool], link_id: "L2" })).ok).toBe(true);

  // REST may not speak for it while its link lives.
  expect(await registry.ask({ type: "heartbeat", node_id: "n1", pools: [pool] })).toMatchObject({ ok: false, linked: true });
  expect(await registry.ask({ type: "deregister", node_id: "n1" })).toBe("linked");
  expect((await registry.ask({ type: "register", node_id: "n1", pools: [pool] })).ok).toBe(false);

  registry.tell({ type: "link-down", link_id: "L2", reason: "closed" });
  await registry.ask({ type: "list" }); // one mailbox: the link-down is handled first
  expect(links.nodeOf("L2")).toBeUndefined();
  expect((await register("n1", "L3")).ok).toBe(true);
  registry.tell({ type: "link-down", link_id: "L3", reason: "closed" });
  // Once its link is gone, an operator may remove the stale entry over REST.
  expect(await registry.ask({ type: "deregister", node_id: "n1" })).toBe(true);
});
