// Assembles a node's actor tree and keeps its link to the control plane.
//
//   node (one_for_one)
//   ├─ agent              link side: register, heartbeat, dispatch/cancel routing
//   └─ pool-<id>* (rest_for_one)
//       ├─ manager        leases, readiness, snapshots
//       └─ replica-0      engine driver; restarted with backoff when its engine dies

import { ActorSystem, supervisor, type ActorRef, type BackoffPolicy, type ChildSpec, type Clock, type Logger } from "../../runtime/index.ts";
import { MockEngine, type EngineAdapter } from "../../adapters/engines/index.ts";
import { LinkKeeper, RemoteEndpoint, type Connector } from "../../adapters/transport/index.ts";
import { AGENT_PATH } from "../link/protocol.ts";
import { nodeAgent } from "./agent/agent.ts";
import type { AgentInternalMsg, AgentInternalRef, AgentReplies } from "./agent/protocol.ts";
import type { PoolConfig } from "./config.ts";
import { poolManager } from "./pool/pool.ts";
import type { PoolRef, ReplicaRef } from "./pool/protocol.ts";
import { replica } from "./replica/replica.ts";

export type EngineFactory = (pool: PoolConfig, replicaId: string, clock: Clock) => EngineAdapter;

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
  const poolSpecs: ChildSpec[] = options.pools.map((pool) => {
    const base = `node/pool-${pool.id}`;
    const poolRef: PoolRef = system.ref(`${base}/manager`);
    const replicaId = "replica-0";
    const replicaRef: ReplicaRef = system.ref(`${base}/${replicaId}`);
    poolRefs.set(pool.id, poolRef);
    return {
      id: `pool-${pool.id}`,
      start: supervisor({
        strategy: "rest_for_one",
        // The restart-storm limit of the digest: 10 restarts per 60 s.
        intensity: { maxRestarts: 10, periodMs: 60_000 },
        children: [
          {
            id: "manager",
            start: poolManager({
              poolId: pool.id,
              engine: pool.engine,
              models: [pool.model],
              slots: pool.slots,
              agent,
              replica: replicaRef,
              replicaId,
              log,
            }),
          },
          {
            id: replicaId,
            backoff: options.engineBackoff ?? ENGINE_BACKOFF,
            start: replica({
              nodeId: options.nodeId,
              poolId: pool.id,
              replicaId,
              pool: poolRef,
              engine: () => engineFactory(pool, replicaId, system.clock),
              log,
              healthIntervalMs: options.healthIntervalMs ?? 500,
            }),
          },
        ],
      }),
    };
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

