// Bun.serve wiring: the hono app plus the WebSocket endpoints (node link, client /v2/ws). This
// is the one module that imports hono/bun.

import type { ServerWebSocket } from "bun";
import type { Hono } from "hono";
import { upgradeWebSocket, websocket } from "hono/bun";
import { RealClock, type Clock, type Logger } from "../../runtime/index.ts";
import { ServerWsLink, type Link } from "../transport/index.ts";
import { authorize, isLoopbackHost, type KeyLookup } from "./auth.ts";
import { fail } from "./errors.ts";
import { authorizeNode } from "./node-auth.ts";
import type { ControlPort } from "../../contract/index.ts";
import { openWsSession, upgradeAuth, WS_PATH, type WsLimits, type WsSession } from "./ws-api.ts";

export const NODE_LINK_PATH = "/v2/nodes/link";

export interface ServeOptions {
  app: Hono<any>;
  hostname: string;
  port: number;
  log: Logger;
  /** The clients' token (LLORCH_API_TOKEN); node links need it when no node token is set. */
  token?: string;
  /** LLORCH_NODE_TOKEN: when set, node links need this token and refuse the clients' token. */
  nodeToken?: string;
  /** Called for each accepted node link. */
  onNodeLink?: (link: Link) => void;
  /** When set, clients may use the multiplexed WebSocket at /v2/ws. */
  clientWs?: ClientWsOptions;
  /** When set, the server speaks HTTPS/WSS only: PEM certificate chain and private key. */
  tls?: { cert: string; key: string };
  /** Connection limits (ORCHD_IDLE_TIMEOUT_S, ORCHD_MAX_BODY_BYTES); CONNECTION_LIMITS when absent. */
  limits?: Partial<ConnectionLimits>;
}

/** Bounds on what a peer's connection may hold, applied by Bun before the app sees a byte. */
export interface ConnectionLimits {
  /**
   * Seconds an HTTP connection may stay silent before Bun closes it (keep-alive sockets between
   * requests included; 1..255, Bun's cap). Streaming responses (SSE, OpenAI streams) are exempt:
   * a queued task may be silent for longer.
   */
  idleTimeoutS: number;
  /** Largest request body Bun accepts at all; the routes' own limits are lower and answer 413. */
  maxRequestBodyBytes: number;
  /** Largest WebSocket frame Bun buffers, before auth (close 1009 above it). */
  maxWsPayloadBytes: number;
  /** Bytes Bun may buffer for a slow WebSocket reader before closing it. */
  wsBackpressureBytes: number;
  /** Seconds a WebSocket may stay silent; Bun pings before this, so only dead peers are closed. */
  wsIdleTimeoutS: number;
}

export const CONNECTION_LIMITS: ConnectionLimits = {
  idleTimeoutS: 60,
  maxRequestBodyBytes: 16 * 1024 * 1024,
  maxWsPayloadBytes: 1024 * 1024,
  wsBackpressureBytes: 8 * 1024 * 1024,
  wsIdleTimeoutS: 120,
};

export interface ClientWsOptions {
  port: ControlPort;
  /** AUTH_OPTIONAL: loopback peers need no token. */
  authOptional?: boolean;
  /** Named client keys, accepted beside the token. */
  keys?: KeyLookup;
  /** Counts metrics frames dropped for slow clients. */
  onBackpressureDrop?: () => void;
  /** For the first-message auth deadline; RealClock when absent. */
  clock?: Clock;
  limits?: Partial<WsLimits>;
}

/** ws.data of a /v2/ws socket; node-link sockets carry hono's data instead. */
interface ClientSocketData {
  client: { start(ws: ServerWebSocket<ClientSocketData>): WsSession; session?: WsSession };
}

export interface HttpServer {
  url: URL;
  port: number;
  stop(): Promise<void>;
}

export function serve(options: ServeOptions): HttpServer {
  const { app } = options;
  if (options.onNodeLink) {
    const onNodeLink = options.onNodeLink;
    app.get(
      NODE_LINK_PATH,
      async (c, next) => {
        // The node token when one is set (a client token is refused), else the shared token.
        const outcome = authorizeNode(c.req.header("authorization"), { nodeToken: options.nodeToken, apiToken: options.token });
        if (!outcome.ok) return fail(c, outcome.code, "node link needs a valid node token");
        await next();
      },
      upgradeWebSocket(() => {
        let link: ServerWsLink | undefined;
        return {
          onOpen(_evt, ws) {
            link = new ServerWsLink(
              (text) => ws.send(text),
              (code, reason) => ws.close(code, reason),
            );
            onNodeLink(link);
          },
          onMessage(evt) {
            if (typeof evt.data === "string") link?.frame(evt.data);
          },
          onClose(evt) {
            link?.socketClosed(`socket closed (code ${evt.code})`);
          },
        };
      }),
    );
  }
  if (options.clientWs) routeClientWs(app, options.clientWs, options);
  const limits = { ...CONNECTION_LIMITS, ...options.limits };
  const server = Bun.serve({
    hostname: options.hostname,
    port: options.port,
    fetch: async (req, srv) => {
      const res = await app.fetch(req, { server: srv, ip: srv.requestIP(req) });
      // A stream may be silent while its task is queued: it is ended by its task, not by idleness.
      if (isStreaming(res)) srv.timeout(req, 0);
      return res;
    },
    websocket: {
      ...socketHandler,
      maxPayloadLength: limits.maxWsPayloadBytes,
      backpressureLimit: limits.wsBackpressureBytes,
      closeOnBackpressureLimit: true,
      idleTimeout: limits.wsIdleTimeoutS,
      sendPings: true,
    },
    idleTimeout: limits.idleTimeoutS,
    maxRequestBodySize: limits.maxRequestBodyBytes,
    ...(options.tls ? { tls: options.tls } : {}),
  });
  return {
    url: new URL(`${options.tls ? "https" : "http"}://${formatHost(options.hostname)}:${server.port}`),
    port: server.port ?? 0,
    stop: () => server.stop(true),
  };
}

/**
 * GET /v2/ws. Upgraded by hand rather than through hono's helper so the 101 carries the
 * correlation id set by the app's middleware, and so the session sees Bun's send status and
 * drain events (backpressure).
 */
function routeClientWs(app: Hono<any>, ws: ClientWsOptions, options: ServeOptions): void {
  const clock = ws.clock ?? new RealClock();
  app.get(WS_PATH, (c) => {
    const env = c.env as { server?: Bun.Server<ClientSocketData>; ip?: { address?: string } } | undefined;
    const remote = env?.ip?.address;
    const credentials = { token: options.token, keys: ws.keys };
    const decision = upgradeAuth(c.req.header("authorization"), {
      token: credentials,
      authOptional: ws.authOptional,
      remoteLoopback: remote !== undefined && isLoopbackHost(remote),
    });
    if (decision.ok === false) {
      return fail(c, decision.code, decision.code === "MISSING_TOKEN" ? "missing or malformed bearer token" : "invalid bearer token");
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket" || !env?.server) {
      return fail(c, "INVALID_PARAMS", `${WS_PATH} expects a WebSocket upgrade`);
    }
    const correlationId: string = c.get("correlationId") ?? crypto.randomUUID();
    const client: ClientSocketData["client"] = {
      start: (socket) =>
        openWsSession({
          socket: {
            send: (text) => socket.send(text),
            close: (code, reason) => socket.close(code, reason),
            bufferedAmount: () => socket.getBufferedAmount(),
          },
          port: ws.port,
          clock,
          log: options.log,
          identity: decision.ok === true ? decision.identity : undefined,
          token: credentials,
          correlationId,
          trace: c.get("trace"),
          limits: ws.limits,
          onBackpressureDrop: ws.onBackpressureDrop,
        }),
    };
    const traceparent: string | undefined = c.get("trace")?.traceparent;
    if (!env.server.upgrade(c.req.raw, { data: { client }, headers: { "X-Correlation-Id": correlationId, ...(traceparent ? { traceparent } : {}) } })) {
      return fail(c, "INVALID_PARAMS", "WebSocket upgrade failed");
    }
    // Bun ignores the response of an upgraded request.
    return new Response(null);
  });
}

/** Client sockets go to their session, the rest (node links) to hono's handler. */
const socketHandler: Bun.WebSocketHandler<any> = {
  open(ws: ServerWebSocket<any>) {
    const client = clientOf(ws);
    if (client) client.session = client.start(ws);
    else websocket.open(ws);
  },
  message(ws: ServerWebSocket<any>, message: string | Buffer) {
    const client = clientOf(ws);
    if (client) client.session?.receive(message);
    else websocket.message(ws, message);
  },
  close(ws: ServerWebSocket<any>, code: number, reason: string) {
    const client = clientOf(ws);
    if (client) client.session?.closed(code);
    else websocket.close(ws, code, reason);
  },
  drain(ws: ServerWebSocket<any>) {
    clientOf(ws)?.session?.drain();
  },
};

function clientOf(ws: ServerWebSocket<any>): ClientSocketData["client"] | undefined {
  return (ws.data as Partial<ClientSocketData> | undefined)?.client;
}

function isStreaming(res: Response): boolean {
  return res.headers.get("content-type")?.startsWith("text/event-stream") === true;
}

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
