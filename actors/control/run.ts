// Runs a control plane with its HTTP server: used by `bun run control`, `bun run dev` and tests.

import type { Clock, Logger } from "../../runtime/index.ts";
import { createControlApp, serve, type HttpServer } from "../../adapters/http/index.ts";
import { areaRoutes } from "../../adapters/http/routes/index.ts";
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from "./control-plane.ts";
import { setRetryAfterDefault } from "../../contract/index.ts";

export interface RunControlOptions extends Omit<ControlPlaneOptions, "log"> {
  log: Logger;
  hostname: string;
  port: number;
  token?: string;
  authOptional?: boolean;
  version: string;
  clock?: Clock;
  sseChannelCap?: number;
  maxBodyBytes?: number;
  /** The retry hint (ms) of retriable errors that name none (ORCHD_RETRY_AFTER_MS); set for the whole process. */
  retryAfterMs?: number;
  /** Called if the root supervisor gives up: the process should exit and be restarted. */
  onFatal?: (reason: string) => void;
}

export interface RunningControl {
  plane: ControlPlane;
  server: HttpServer;
  url: URL;
  stop(): Promise<void>;
}

export async function runControl(options: RunControlOptions): Promise<RunningControl> {
  if (options.retryAfterMs !== undefined) setRetryAfterDefault(options.retryAfterMs);
  const plane = await startControlPlane(options);
  const app = createControlApp({
    port: plane.port,
    registry: plane.metrics.registry,
    log: options.log,
    token: options.token,
    authOptional: options.authOptional,
    version: options.version,
    maxBodyBytes: options.maxBodyBytes,
    sseChannelCap: options.sseChannelCap,
    onSseDrop: () => plane.metrics.sseBackpressureDrops.inc(),
    routes: areaRoutes(plane),
  });
  let server: HttpServer;
  try {
    server = serve({
      app,
      hostname: options.hostname,
      port: options.port,
      log: options.log,
      token: options.token,
      onNodeLink: (link) => plane.acceptLink(link),
      clientWs: {
        port: plane.port,
        authOptional: options.authOptional,
        clock: options.clock,
        // Same stream frames as SSE, so the same counter (docs/contract.md#metrics).
        onBackpressureDrop: () => plane.metrics.sseBackpressureDrops.inc(),
      },
    });
  } catch (error) {
    await plane.shutdown();
    throw error;
  }
  void plane.system.whenStopped("control").then((reason) => {
    if (reason?.kind === "failed") options.onFatal?.(String((reason.error as Error)?.message ?? reason.error));
  });
  return {
    plane,
    server,
    url: server.url,
    async stop() {
      // Actors first: open streams end with a retriable error event before connections close.
      await plane.shutdown();
      await server.stop();
    },
  };
}
