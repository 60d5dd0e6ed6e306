// Assembles a node's actor tree and keeps its link to the control plane.
//
//   node (one_for_one)
//   ├─ agent              link side: register, heartbeat, dispatch/cancel and pool-control routing
//   └─ pool-<id>* (rest_for_one)
//       ├─ manager        leases, readiness, snapshots, drain/reload
//       └─ replica-0      engine driver; restarted with backoff when its engine dies

import { join } from "node:path";
import { ActorSystem, startChild, supervisor, type Clock, type Logger, type SupervisorRef } from "../../runtime/index.ts";
import { LlamaCppEngine } from "../../adapters/engines/index.ts";
import { LinkKeeper, RemoteEndpoint, type Connector } from "../../adapters/transport/index.ts";
import { AGENT_PATH } from "../../contract/link.ts";
import { nodeAgent } from "./agent/agent.ts";
import type { AgentInternalMsg, AgentInternalRef, AgentReplies } from "./agent/protocol.ts";
import type { PoolConfig } from "./config.ts";
import { poolTree } from "./pool/pool-tree.ts";
import { engineFactory as makeEngineFactory, type EngineFactory, type EngineFactoryOptions } from "./engine/factory.ts";
import type { supervisionConfig } from "./supervision/index.ts";

type SupervisionOverrides = Parameters<typeof supervisionConfig>[0];
import { type GpuProbe, reapStale } from "../../host/index.ts";
import type { NodeMetrics } from "../../adapters/metrics/index.ts";
import { handoffWatcherSpec, type Handoff } from "./handoff/index.ts";
import { DEFAULT_GPU_INTERVAL_MS, gpuGate, gpuMonitorSpec, hostInventory, nodeCapabilities } from "./gpu/index.ts";
import type { PoolRef } from "./pool/protocol.ts";
import { CacheUsers, preparationStep } from "./models/index.ts";

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
  /**
   * Overrides of the engine restart policy (docs/contract.md#supervision; defaults: backoff 1 s
   * doubling to 60 s ±10 %, reset after 300 s; breaker 5 failures → open 300 s; 10 restarts per
   * 60 s). Tests shorten them.
   */
  supervision?: SupervisionOverrides;
  engineFactory?: EngineFactory;
  /** How long a reloaded engine may take to become ready before the reload rolls back (120 s). */
  reloadReadyTimeoutMs?: number;
  /** Called if the root supervisor gives up: the process should exit and be restarted. */
  onFatal?: (reason: string) => void;
  /** How long a starting engine may take to answer /health (120 s). */
  engineReadyTimeoutMs?: number;
  /** Budget of one engine health poll (default 2 s) and the SIGTERM grace of an engine stop (5 s). */
  healthTimeoutMs?: number;
  stopGraceMs?: number;
  /** Engine logs, pid files and handoff files (POOL_MANAGERD_RUNTIME_DIR); default `.runtime`. */
  runtimeDir?: string;
  /** The node's GPUs (NVML); absent in tests and dev = no GPU monitor and no GPU-only gate. */
  gpu?: GpuProbe;
  gpuIntervalMs?: number;
  metrics?: NodeMetrics;
  /** How pools' model refs resolve (base dir, cache, downloads policy). */
  models?: EngineFactoryOptions["models"];
  /** Handoff watcher (docs/contract.md#nodes): binds engines started elsewhere; `false` turns it off. */
  handoff?: { dir?: string; intervalMs?: number; autoDelete?: boolean } | false;
}

export interface Node {
  system: ActorSystem;
  agent: AgentInternalRef;
  /** Stops the actors (the agent deregisters), then the link. */
  shutdown(): Promise<void>;
}


export const DEFAULT_RUNTIME_DIR = ".runtime";

export async function startNode(options: NodeOptions): Promise<Node> {
  const system = new ActorSystem({ name: `node:${options.nodeId}`, clock: options.clock, random: options.random });
  const log = options.log.child({ node_id: options.nodeId });
  system.events.on((e) => {
    if (e.type === "failed") log.error(`Actor ${e.path} failed: ${e.error}`, { actor: e.path });
  });
  const agent: AgentInternalRef = system.ref<AgentInternalMsg, AgentReplies>(AGENT_PATH);
  const runtimeDir = options.runtimeDir ?? DEFAULT_RUNTIME_DIR;
  const cpuPools = new Set<string>();
  // Engines an earlier agent left running (it was killed, or its host rebooted into this one):
  // stopped from their pid files before any pool starts, so no port or GPU is held twice.
  const reaped = await reapStale(runtimeDir);
  for (const r of reaped.reaped) log.warn(`Stopped an engine left by an earlier agent (pid ${r.pid})`, { pid: r.pid, pid_file: r.pidPath });
  for (const r of reaped.skipped) log.warn(`Left a pid file alone: its process is alive but not provably ours (pid ${r.pid})`, { pid: r.pid, pid_file: r.pidPath });
  const engineFactory =
    options.engineFactory ?? makeEngineFactory({
      runtimeDir,
      healthIntervalMs: options.healthIntervalMs,
      healthTimeoutMs: options.healthTimeoutMs,
      stopGraceMs: options.stopGraceMs,
      readyTimeoutMs: options.engineReadyTimeoutMs,
      models: options.models,
      onCpu: (poolId) => cpuPools.has(poolId),
      onModelStep: (poolId, step) => {
        // While a model downloads or is verified, the pool says so (GET /v2/nodes, pool health, the
        // preparation steps of a 202). Every 5 % at most: each is a snapshot the control plane hears at once.
        // Of unknown size (no Content-Length): every 2 s instead of every 5 %.
        const progress = step.pct !== undefined ? Math.floor(step.pct / 5) : `t${Math.floor(system.clock.now() / 2000)}`;
        const bucket = `${step.status}/${step.phase}/${progress}`;
        if (prepNoted.get(poolId) !== bucket) {
          prepNoted.set(poolId, bucket);
          poolRefs.get(poolId)?.tell({ type: "prep-step", step: preparationStep(step) });
          if (step.status === "running" || step.status === "pending") {
            const pct = step.pct !== undefined ? ` ${step.pct}%` : "";
            poolRefs.get(poolId)?.tell({ type: "engine-note", last_error: `preparing the model (${step.phase}${pct}): ${step.description}` });
          }
        }
        if (step.status === "running" && step.phase !== "download") return;
        const level = step.status === "failed" ? "warn" : "info";
        log[level](`Model of pool ${poolId}: ${step.description} (${step.status}${step.pct !== undefined ? `, ${step.pct}%` : ""})`, {
          pool_id: poolId,
          step: step.id,
          status: step.status,
          bytes_done: step.bytes_done,
          bytes_total: step.bytes_total,
        });
      },
    });
  const poolRefs = new Map<string, PoolRef>();
  // Which pool loads which model cache entry: a purge spares a file another pool still loads.
  const cacheUsers = new CacheUsers();
  const prepNoted = new Map<string, string>();
  const inventory = hostInventory(options.gpu);
  const treeOptions = (pool: PoolConfig, factory: EngineFactory) => ({
    system,
    parent: "node",
    nodeId: options.nodeId,
    pool,
    agent,
    engineFactory: factory,
    supervision: options.supervision,
    metrics: options.metrics,
    healthIntervalMs: options.healthIntervalMs ?? 500,
    readyTimeoutMs: options.reloadReadyTimeoutMs,
    log,
  });

  /**
   * A handoff: an engine something else started and keeps running. It becomes a pool whose
   * replica only talks to it (health polls, requests); the node never starts or stops it.
   */
  const bindHandoff = async (h: Handoff): Promise<{ ok: true } | { ok: false; reason: string }> => {
    if (poolRefs.has(h.pool_id)) return { ok: false, reason: `pool ${h.pool_id} already exists on this node` };
    const pool: PoolConfig = { id: h.pool_id, engine: "llamacpp", model: h.model_id, devices: h.devices ?? [], slots: h.slots_total ?? 1, ctx: h.metadata?.ctx_max, allow_cpu: true };
    options.metrics?.initPool(options.nodeId, h.pool_id);
    const tree = poolTree(treeOptions(pool, (_p, _r, clock) => new LlamaCppEngine({ baseUrl: h.url, version: h.engine_version, clock, healthTimeoutMs: options.healthTimeoutMs })));
    // Routable before it starts: the manager's first snapshot reaches the agent right away.
    poolRefs.set(h.pool_id, tree.ref);
    try {
      await startChild(system.ref("node") as SupervisorRef, tree.spec);
    } catch (error) {
      poolRefs.delete(h.pool_id);
      return { ok: false, reason: `could not start pool ${h.pool_id}: ${(error as Error).message}` };
    }
    return { ok: true };
  };
  const poolSpecs = options.pools.map((pool) => {
    // GPU-only rule: without GPUs a pool runs only when its config allows the CPU (and says so).
    // Remote engines (openai, tgi) run elsewhere: this node's GPUs do not matter to them.
    const remote = pool.engine === "openai" || pool.engine === "tgi";
    const gate = options.gpu && !remote ? gpuGate(pool, inventory.gpu) : ({ ok: true, cpu: false } as const);
    if (gate.ok && gate.cpu) log.warn(gate.reason, { pool_id: pool.id });
    // Without a GPU probe (tests, dev) a pool with no devices runs on the CPU.
    if ((gate.ok && gate.cpu) || (!options.gpu && pool.devices.length === 0)) cpuPools.add(pool.id);
    if (!gate.ok) log.error(`Pool ${pool.id} cannot start: ${gate.reason}`, { pool_id: pool.id, reason: gate.reason });
    options.metrics?.initPool(options.nodeId, pool.id);
    // A configured pool's local model file is checked before its engine starts (relative paths as the engine factory resolves them).
    const tree = poolTree({ ...treeOptions(pool, engineFactory), unavailable: gate.ok ? undefined : gate.reason, modelFiles: { baseDir: options.models?.baseDir ?? process.cwd(), homeDir: options.models?.homeDir, cacheDir: options.models?.cacheDir, hfBaseUrl: options.models?.hfBaseUrl }, cacheUsers });
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
          start: nodeAgent({
            nodeId: options.nodeId,
            version: options.version ?? "0.1.0",
            pools: poolRefs,
            log,
            heartbeatMs: options.heartbeatMs ?? 10_000,
            capabilities: () => nodeCapabilities(inventory),
          }),
          mailbox: { capacity: 10_000 },
        },
        // After the agent: the monitor's first sample is told to it.
        ...(options.gpu
          ? [gpuMonitorSpec({ probe: options.gpu, intervalMs: options.gpuIntervalMs ?? DEFAULT_GPU_INTERVAL_MS, agent, metrics: options.metrics, nodeId: options.nodeId, log })]
          : []),
        ...poolSpecs,
        ...(options.handoff === false
          ? []
          : [
              handoffWatcherSpec({
                dir: options.handoff?.dir ?? join(runtimeDir, "engines"),
                nodeId: options.nodeId,
                intervalMs: options.handoff?.intervalMs,
                autoDelete: options.handoff?.autoDelete,
                metrics: options.metrics,
                log,
                bind: bindHandoff,
              }),
            ]),
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

