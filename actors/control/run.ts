// Runs a control plane with its HTTP server: used by `bun run control`, `bun run dev` and tests.

import { RealClock, type Clock, type Logger } from "../../runtime/index.ts";
import { ClientKeys, CONNECTION_LIMITS, createControlApp, serve, type ConnectionLimits, type HttpServer } from "../../adapters/http/index.ts";
import { areaRoutes } from "../../adapters/http/routes/index.ts";
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from "./control-plane.ts";
import { setRetryAfterDefault } from "../../contract/index.ts";

export interface RunControlOptions extends Omit<ControlPlaneOptions, "log"> {
  log: Logger;
  hostname: string;
  port: number;
  token?: string;
  /** LLORCH_NODE_TOKEN: when set, the node link and node routes take only it (and no client route does). */
  nodeToken?: string;
  /** Named client keys: a file (re-read when it changes) and/or LLORCH_API_KEYS's `name:key,…`. */
  keysFile?: string;
  keysEnv?: string;
  /** When set, GET /metrics needs this bearer token (LLORCH_METRICS_TOKEN). */
  metricsToken?: string;
  /** PEM certificate chain and key: the server speaks HTTPS/WSS only. */
  tls?: { cert: string; key: string };
  authOptional?: boolean;
  version: string;
  clock?: Clock;
  sseChannelCap?: number;
  maxBodyBytes?: number;
  /** Seconds an idle HTTP connection is kept (ORCHD_IDLE_TIMEOUT_S); streams are exempt. */
  idleTimeoutS?: number;
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
  /** Re-reads the client keys file now (SIGHUP); a no-op without one. */
  reloadKeys(): void;
}

/** Bun refuses bodies past the largest route limit before they are read; the routes answer 413 below it. */
function connectionLimits(options: RunControlOptions): Partial<ConnectionLimits> {
  const limits: Partial<ConnectionLimits> = {};
  if (options.idleTimeoutS !== undefined) limits.idleTimeoutS = options.idleTimeoutS;
  if (options.maxBodyBytes !== undefined) limits.maxRequestBodyBytes = Math.max(options.maxBodyBytes, CONNECTION_LIMITS.maxRequestBodyBytes);
  return limits;
}

export async function runControl(options: RunControlOptions): Promise<RunningControl> {
  if (options.retryAfterMs !== undefined) setRetryAfterDefault(options.retryAfterMs);
  // A bad keys file or LLORCH_API_KEYS refuses the start (ConfigError), before anything runs.
  const keys = ClientKeys.load({ file: options.keysFile, env: options.keysEnv, legacyToken: options.token, clock: options.clock ?? new RealClock(), log: options.log });
  // A key's own rps/tpm replace the global ones for it, at admission (so over HTTP, /v1 and /v2/ws alike).
  const rateLimits = keys ? { ...options.rateLimits, perIdentity: (identity: string) => keys.limitsFor(identity) } : options.rateLimits;
  const plane = await startControlPlane({ ...options, rateLimits });
  const app = createControlApp({
    port: plane.port,
    registry: plane.metrics.registry,
    log: options.log,
    token: options.token,
    keys,
    metricsToken: options.metricsToken,
    nodeToken: options.nodeToken,
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
      nodeToken: options.nodeToken,
      limits: connectionLimits(options),
      tls: options.tls,
      onNodeLink: (link) => plane.acceptLink(link),
      clientWs: {
        port: plane.port,
        authOptional: options.authOptional,
        keys,
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
    reloadKeys: () => keys?.reload("SIGHUP"),
    async stop() {
      // Actors first: open streams end with a retriable error event before connections close.
      await plane.shutdown();
      await server.stop();
    },
  };
}
