// In-process cluster: one control plane on a real HTTP port (0) and N nodes linked over the
// in-memory transport (which serializes every envelope). Close it in afterEach/finally.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, RealClock, type Clock, type LogSink } from "../../runtime/index.ts";
import { memoryLinkPair } from "../../adapters/transport/index.ts";
import { runControl, type RunControlOptions, type RunningControl } from "../../actors/control/run.ts";
import { startNode, type EngineFactory, type Node } from "../../actors/node/node.ts";
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
}

export interface Cluster {
  control: RunningControl;
  nodes: Map<string, Node>;
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
      const node = await startNode({
        nodeId: spec.id,
        pools: spec.pools,
        log,
        clock: options.clock,
        heartbeatMs: options.heartbeatMs ?? 1000,
        engineFactory: options.engineFactory,
        engineBackoff: { initialMs: 10, maxMs: 100, jitter: 0.1 },
        connect: async () => {
          const [nodeSide, controlSide] = memoryLinkPair();
          control.plane.acceptLink(controlSide);
          return nodeSide;
        },
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
