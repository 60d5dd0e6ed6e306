// In-process cluster: one control plane on a real HTTP port (0) and N nodes linked over the
// in-memory transport (which serializes every envelope). Close it in afterEach/finally.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, RealClock, type Clock, type LogSink } from "../../runtime/index.ts";
import { memoryLinkPair } from "../../adapters/transport/index.ts";
import { runControl, type RunControlOptions, type RunningControl } from "../../actors/control/run.ts";
import { startNode, type EngineFactory, type Node, type NodeOptions } from "../../actors/node/node.ts";
import { createNodeMetrics, type NodeMetrics } from "../../adapters/metrics/index.ts";
import type { NodeInfo } from "../../contract/index.ts";
import type { PoolConfig } from "../../actors/node/config.ts";

export interface ClusterNodeSpec {
  id: string;
  pools: PoolConfig[];
}

export interface ClusterOptions {
  nodes: ClusterNodeSpec[];
  capacity?: number;
  token?: string;
  engineFactory?: EngineFactory;
  heartbeatMs?: number;
  clock?: Clock;
  /** Captures log lines; silent by default. */
  logSink?: LogSink;
  /** Anything else the control plane takes (policy, rate limits, timeouts, sessions...). */
  control?: Partial<RunControlOptions>;
  /** Anything else every node takes (health interval, supervision, gpu...). */
  node?: Partial<NodeOptions>;
}

export interface Cluster {
  control: RunningControl;
  nodes: Map<string, Node>;
  /** Each node's metrics registry (what its /metrics would serve). */
  nodeMetrics: Map<string, NodeMetrics>;
  /** Each node's runtime dir (engine logs, pid files). */
  runtimeDirs: Map<string, string>;
  url: string;
  /** Resolves once every node is online with all its pools ready. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export function mockPool(id: string, model = "tiny", extra: Partial<PoolConfig> = {}): PoolConfig {
  return { id, engine: "mock", model, devices: [], slots: 1, allow_cpu: true, ...extra };
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const log = createLogger({ clock: options.clock ?? new RealClock(), sink: options.logSink ?? (() => {}), level: "debug" });
  // Catalog index and artifacts live in a temp dir removed on close.
  const stateDir = mkdtempSync(join(tmpdir(), "llorch-cluster-"));
  const control = await runControl({
    log,
    catalogRoot: join(stateDir, "catalog"),
    artifactsRoot: join(stateDir, "artifacts"),
    hostname: "127.0.0.1",
    port: 0,
    version: "test",
    token: options.token,
    capacity: options.capacity,
    heartbeatMs: options.heartbeatMs ?? 1000,
    clock: options.clock,
    ...options.control,
  });
  const nodes = new Map<string, Node>();
  const nodeMetrics = new Map<string, NodeMetrics>();
  const runtimeDirs = new Map<string, string>();
  const close = async () => {
    try {
      for (const n of nodes.values()) await n.shutdown();
      await control.stop();
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  };
  try {
    for (const spec of options.nodes) {
      const metrics = createNodeMetrics();
      const runtimeDir = join(stateDir, `node-${spec.id}`);
      nodeMetrics.set(spec.id, metrics);
      runtimeDirs.set(spec.id, runtimeDir);
      const node = await startNode({
        nodeId: spec.id,
        pools: spec.pools,
        log,
        clock: options.clock,
        heartbeatMs: options.heartbeatMs ?? 1000,
        engineFactory: options.engineFactory,
        supervision: { backoff: { initialMs: 10, maxMs: 100, jitter: 0.1 } },
        // Engine pid and log files per node, in the cluster's temp dir (removed on close).
        runtimeDir,
        metrics,
        connect: async () => {
          const [nodeSide, controlSide] = memoryLinkPair();
          control.plane.acceptLink(controlSide);
          return nodeSide;
        },
        ...options.node,
      });
      nodes.set(spec.id, node);
    }
  } catch (error) {
    await close();
    throw error;
  }
  const url = control.url.toString().replace(/\/$/, "");
  return {
    control,
    nodes,
    nodeMetrics,
    runtimeDirs,
    url,
    ready: () => waitForReady(control, options.nodes),
    close,
  };
}

/** Waits on the control plane's own view (scheduler input), not on time. */
async function waitForReady(control: RunningControl, specs: ClusterNodeSpec[]): Promise<void> {
  const isReady = async () => {
    const nodes = await control.plane.port.nodes();
    return specs.every((s) => {
      const n = nodes.find((x) => x.node_id === s.id);
      return n?.status === "Online" && s.pools.every((p) => n.pools.find((q) => q.pool_id === p.id)?.ready);
    });
  };
  if (await isReady()) return;
  await new Promise<void>((resolve, reject) => {
    const off = control.plane.system.events.on((e) => {
      if (e.type === "delivered" && e.path === "control/registry" && (e.msg === "register" || e.msg === "heartbeat")) {
        void isReady().then(
          (ok) => {
            if (ok) {
              off();
              resolve();
            }
          },
          (err) => {
            off();
            reject(err);
          },
        );
      }
    });
  });
}

/**
 * Resolves with the node list once `pred` holds, re-checked whenever the registry handles a
 * message (a node's heartbeat or registration), never on a timer.
 */
export async function waitForNodes(cluster: Cluster, pred: (nodes: NodeInfo[]) => boolean): Promise<NodeInfo[]> {
  const { control } = cluster;
  const check = async () => {
    const nodes = await control.plane.port.nodes();
    return pred(nodes) ? nodes : undefined;
  };
  const first = await check();
  if (first) return first;
  return new Promise<NodeInfo[]>((resolve, reject) => {
    let busy = false;
    let again = false;
    const run = () => {
      busy = true;
      again = false;
      check().then(
        (nodes) => {
          busy = false;
          if (nodes) {
            off();
            resolve(nodes);
          } else if (again) run();
        },
        (err) => {
          off();
          reject(err);
        },
      );
    };
    const off = control.plane.system.events.on((e) => {
      if (e.type !== "delivered" || e.path !== "control/registry" || (e.msg !== "heartbeat" && e.msg !== "register")) return;
      if (busy) again = true;
      else run();
    });
  });
}

/** The pool `poolId` of node `nodeId` in a node list. */
export function poolOf(nodes: NodeInfo[], nodeId: string, poolId: string): NodeInfo["pools"][number] | undefined {
  return nodes.find((n) => n.node_id === nodeId)?.pools.find((p) => p.pool_id === poolId);
}
