// Bun.serve wiring: the hono app plus the WebSocket endpoints (node link, client /v2/ws). This
// is the one module that imports hono/bun.

import type { ServerWebSocket } from "bun";
import type { Hono } from "hono";
import { upgradeWebSocket, websocket } from "hono/bun";
import { RealClock, type Clock, type Logger } from "../../runtime/index.ts";
import { ServerWsLink, type Link } from "../transport/index.ts";
import { authorize, isLoopbackHost } from "./auth.ts";
import { fail } from "./errors.ts";
import type { ControlPort } from "../../contract/index.ts";
import { openWsSession, upgradeAuth, WS_PATH, type WsLimits, type WsSession } from "./ws-api.ts";

export const NODE_LINK_PATH = "/v2/nodes/link";

export interface ServeOptions {
  app: Hono<any>;
  hostname: string;
  port: number;
  log: Logger;
  /** When set, node links need this bearer token. */
  token?: string;
  /** Called for each accepted node link. */
  onNodeLink?: (link: Link) => void;
  /** When set, clients may use the multiplexed WebSocket at /v2/ws. */
  clientWs?: ClientWsOptions;
}

export interface ClientWsOptions {
  port: ControlPort;
  /** AUTH_OPTIONAL: loopback peers need no token. */
  authOptional?: boolean;
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
        const outcome = authorize(c.req.header("authorization"), options.token);
        if (!outcome.ok) return fail(c, outcome.code, "node link needs a valid bearer token");
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
  const server = Bun.serve({
    hostname: options.hostname,
    port: options.port,
    fetch: (req, srv) => app.fetch(req, { server: srv, ip: srv.requestIP(req) }),
    websocket: socketHandler,
    idleTimeout: 0,
  });
  return {
    url: new URL(`http://${formatHost(options.hostname)}:${server.port}`),
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
    const decision = upgradeAuth(c.req.header("authorization"), {
      token: options.token,
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
          token: options.token,
          correlationId,
          limits: ws.limits,
          onBackpressureDrop: ws.onBackpressureDrop,
        }),
    };
    if (!env.server.upgrade(c.req.raw, { data: { client }, headers: { "X-Correlation-Id": correlationId } })) {
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

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
