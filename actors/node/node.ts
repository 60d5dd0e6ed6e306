// Assembles a node's actor tree and keeps its link to the control plane.
//
//   node (one_for_one)
//   ├─ agent              link side: register, heartbeat, dispatch/cancel and pool-control routing
//   └─ pool-<id>* (rest_for_one)
//       ├─ manager        leases, readiness, snapshots, drain/reload
//       └─ replica-0      engine driver; restarted with backoff when its engine dies

import { ActorSystem, supervisor, type BackoffPolicy, type Clock, type Logger } from "../../runtime/index.ts";
import { MockEngine } from "../../adapters/engines/index.ts";
import { LinkKeeper, RemoteEndpoint, type Connector } from "../../adapters/transport/index.ts";
import { AGENT_PATH } from "../link/protocol.ts";
import { nodeAgent } from "./agent/agent.ts";
import type { AgentInternalMsg, AgentInternalRef, AgentReplies } from "./agent/protocol.ts";
import type { PoolConfig } from "./config.ts";
import { poolTree, type EngineFactory } from "./pool/pool-tree.ts";
import type { PoolRef } from "./pool/protocol.ts";

export type { EngineFactory };

export interface NodeOptions {
  nodeId: string;
  pools: PoolConfig[];
  connect: Connector;
  log: Logger;
  clock?: Clock;
  random?: () => number;
  version?: string;
  heartbeatMs?: number;
  healthIntervalMs?: number;
  /** Restart backoff of engine replicas (digest: 1 s doubling to 60 s, ±10 %, reset after 300 s). */
  engineBackoff?: BackoffPolicy;
  engineFactory?: EngineFactory;
  /** How long a reloaded engine may take to become ready before the reload rolls back (120 s). */
  reloadReadyTimeoutMs?: number;
  /** Called if the root supervisor gives up: the process should exit and be restarted. */
  onFatal?: (reason: string) => void;
}

export interface Node {
  system: ActorSystem;
  agent: AgentInternalRef;
  /** Stops the actors (the agent deregisters), then the link. */
  shutdown(): Promise<void>;
}

export const ENGINE_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 60_000, factor: 2, jitter: 0.1, resetAfterMs: 300_000 };

export const defaultEngineFactory: EngineFactory = (pool, _replicaId, clock) => {
  switch (pool.engine) {
    case "mock":
      return new MockEngine({
        clock,
        model: pool.model,
        slots: pool.slots,
        faults: {
          tokenDelayMs: pool.mock?.token_delay_ms,
          startDelayMs: pool.mock?.start_delay_ms,
          failAfterTokens: pool.mock?.fail_after_tokens,
          crashAfterTokens: pool.mock?.crash_after_tokens,
          hangAfterTokens: pool.mock?.hang_after_tokens,
        },
      });
  }
};

export async function startNode(options: NodeOptions): Promise<Node> {
  const system = new ActorSystem({ name: `node:${options.nodeId}`, clock: options.clock, random: options.random });
  const log = options.log.child({ node_id: options.nodeId });
  system.events.on((e) => {
    if (e.type === "failed") log.error(`Actor ${e.path} failed: ${e.error}`, { actor: e.path });
  });
  const agent: AgentInternalRef = system.ref<AgentInternalMsg, AgentReplies>(AGENT_PATH);
  const engineFactory = options.engineFactory ?? defaultEngineFactory;
  const poolRefs = new Map<string, PoolRef>();
  const poolSpecs = options.pools.map((pool) => {
    const tree = poolTree({
      system,
      parent: "node",
      nodeId: options.nodeId,
      pool,
      agent,
      engineFactory,
      engineBackoff: options.engineBackoff ?? ENGINE_BACKOFF,
      healthIntervalMs: options.healthIntervalMs ?? 500,
      readyTimeoutMs: options.reloadReadyTimeoutMs,
      log,
    });
    poolRefs.set(pool.id, tree.ref);
    return tree.spec;
  });

  await system.spawn(
    "node",
    supervisor({
      strategy: "one_for_one",
      children: [
        {
          id: "agent",
          start: nodeAgent({ nodeId: options.nodeId, version: options.version ?? "0.1.0", pools: poolRefs, log, heartbeatMs: options.heartbeatMs ?? 10_000 }),
          mailbox: { capacity: 10_000 },
        },
        ...poolSpecs,
      ],
    }),
  );

  void system.whenStopped("node").then((reason) => {
    if (reason?.kind === "failed") options.onFatal?.(String((reason.error as Error)?.message ?? reason.error));
  });

  const keeper = new LinkKeeper({
    connect: options.connect,
    clock: system.clock,
    random: system.random,
    log,
    onUp: (link) => {
      const endpoint = new RemoteEndpoint(system, link, { exports: [AGENT_PATH] });
      agent.tell({ type: "link-up", endpoint });
    },
    onDown: (reason) => agent.tell({ type: "link-down", reason }),
  });
  keeper.start();

  return {
    system,
    agent,
    async shutdown() {
      // Deregister first and wait for the acknowledgement: a frame sent just before the socket
      // closes can be lost, and the control plane should see a departure, not a failure.
      const left = await agent.ask({ type: "leave" }, { timeoutMs: 3000 }).catch(() => false);
      if (!left) log.warn("Could not deregister from the control plane before stopping");
      await system.shutdown();
      keeper.stop();
    },
  };
}

