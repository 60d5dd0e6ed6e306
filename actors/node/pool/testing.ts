// Test fixture for the pool subtree on simulated time: the real manager, replica and supervisor,
// mock engines, a stand-in agent that records snapshots, and sinks that record task streams.
// Used by the pool and agent tests only.

import { ActorSystem, createLogger, SimClock, type ActorFactory, type ActorRef, type Logger } from "../../../runtime/index.ts";
import { MockEngine, type MockFaults } from "../../../adapters/engines/index.ts";
import type { PoolView } from "../../../adapters/http/schemas.ts";
import { AGENT_PATH, type TaskEngineMsg, type TaskSinkRef } from "../../link/protocol.ts";
import type { AgentInternalMsg, AgentInternalRef } from "../agent/protocol.ts";
import type { PoolConfig } from "../config.ts";
import { poolTree } from "./pool-tree.ts";
import type { PoolRef } from "./protocol.ts";

export interface PoolFixtureOptions {
  model?: string;
  slots?: number;
  faults?: MockFaults;
  /** Faults per model ref, e.g. an engine that never becomes ready for one model. */
  faultsFor?: Record<string, MockFaults>;
  readyTimeoutMs?: number;
  /** The GPU-only rule refused the pool on this node: it runs without a replica. */
  unavailable?: string;
  /** The agent to run at node/agent instead of a stand-in that records snapshots. */
  agent?: (pools: Map<string, PoolRef>, log: Logger) => ActorFactory<AgentInternalMsg>;
}

export interface PoolFixture {
  clock: SimClock;
  system: ActorSystem;
  pool: PoolRef;
  agent: AgentInternalRef;
  /** Every snapshot the manager published, in order (with the stand-in agent). */
  snapshots: PoolView[];
  /** Every engine made, in order; the last one is the current one. */
  engines: MockEngine[];
  replicaAlive(): boolean;
  /** Sends a task; its stream is recorded in the returned array. */
  dispatch(taskId: string, maxTokens?: number): Promise<TaskEngineMsg[]>;
  close(): Promise<void>;
}

export const HEALTH_INTERVAL_MS = 50;

export async function startPoolFixture(options: PoolFixtureOptions = {}): Promise<PoolFixture> {
  const clock = new SimClock(1_000);
  const system = new ActorSystem({ name: "pool-fixture", clock, random: () => 0.5 });
  const log = createLogger({ clock, sink: () => {} });
  const snapshots: PoolView[] = [];
  const engines: MockEngine[] = [];
  const agent: AgentInternalRef = system.ref(AGENT_PATH);
  const config: PoolConfig = { id: "p0", engine: "mock", model: options.model ?? "tiny", devices: [], slots: options.slots ?? 2, allow_cpu: true };
  const tree = poolTree({
    system,
    parent: "node",
    nodeId: "n1",
    pool: config,
    agent,
    engineFactory: (pool, _replicaId, c) => {
      const engine = new MockEngine({ clock: c, model: pool.model, slots: pool.slots, faults: { ...options.faults, ...options.faultsFor?.[pool.model] } });
      engines.push(engine);
      return engine;
    },
    supervision: { backoff: { initialMs: 100, maxMs: 1000, jitter: 0 } },
    healthIntervalMs: HEALTH_INTERVAL_MS,
    readyTimeoutMs: options.readyTimeoutMs,
    unavailable: options.unavailable,
    log,
  });
  const standIn: ActorFactory<AgentInternalMsg> = () => ({
    receive(msg) {
      if (msg.type === "pool-status") snapshots.push(msg.snapshot);
    },
  });
  await system.spawn(AGENT_PATH, options.agent?.(new Map([["p0", tree.ref]]), log) ?? standIn);
  await system.spawn("node/pool-p0", tree.spec.start);
  await clock.flush();
  let sinks = 0;

  return {
    clock,
    system,
    pool: tree.ref,
    agent,
    snapshots,
    engines,
    replicaAlive: () => system.isAlive("node/pool-p0/replica-0"),
    async dispatch(taskId, maxTokens = 5) {
      const events: TaskEngineMsg[] = [];
      const sink: TaskSinkRef = (await system.spawn<TaskEngineMsg>(`test/sink-${++sinks}`, () => ({
        receive: (m) => void events.push(m),
      }))) as ActorRef<TaskEngineMsg>;
      tree.ref.tell({ type: "dispatch", task_id: taskId, request: { task_id: taskId, prompt: `prompt ${taskId}`, max_tokens: maxTokens }, sink });
      await clock.flush();
      return events;
    },
    close: () => system.shutdown(),
  };
}

/** The last word of a recorded stream: "end", "error" or undefined while it runs. */
export function terminal(events: TaskEngineMsg[]): TaskEngineMsg | undefined {
  return events.find((e) => e.type === "engine-end" || e.type === "engine-error");
}
