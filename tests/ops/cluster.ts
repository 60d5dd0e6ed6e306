// A real control plane and node (two processes, a mock pool) for the ops tests, and a free port.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnService, type Service } from "../harness/process.ts";

export interface OpsCluster {
  control: Service;
  controlUrl: string;
  node: Service;
  nodeUrl: string;
  /** Starts the node again (after a kill) on the same address. */
  restartNode(): Promise<Service>;
  close(): Promise<void>;
}

export async function startOpsCluster(): Promise<OpsCluster> {
  const dir = mkdtempSync(join(tmpdir(), "llorch-ops-"));
  const config = join(dir, "pools.yaml");
  writeFileSync(config, ["pools:", "  - id: p0", "    engine: mock", "    model: tiny", "    slots: 2", "    allow_cpu: true", "    mock:", "      token_delay_ms: 1", ""].join("\n"));
  const services: Service[] = [];
  const close = async () => {
    for (const s of services.splice(0).reverse()) await s.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"]);
    services.push(control);
    const controlUrl = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
    const startNode = async (addr: string) => {
      const node = spawnService(["actors/node/main.ts", "--control", controlUrl, "--config", config, "--addr", addr, "--node-id", "n1"], { POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "1" });
      services.push(node);
      const url = String((await node.waitFor((l) => l.event === "listening", "node listening")).url).replace(/\/$/, "");
      return { node, url };
    };
    const first = await startNode("127.0.0.1:0");
    await control.waitFor((l) => l.msg === "Pool p0 on node n1 is ready", "pool p0 ready at the control plane");
    const cluster: OpsCluster = {
      control,
      controlUrl,
      node: first.node,
      nodeUrl: first.url,
      async restartNode() {
        const again = await startNode(new URL(first.url).host);
        cluster.node = again.node;
        return again.node;
      },
      close,
    };
    return cluster;
  } catch (error) {
    await close();
    throw error;
  }
}

/** A port free right now on 127.0.0.1 (for programs that cannot report the port they bound). */
export function freePort(): number {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}
