// Bun.serve wiring: the hono app plus the node-link WebSocket endpoint. This is the one module
// that imports hono/bun.

import type { Hono } from "hono";
import { upgradeWebSocket, websocket } from "hono/bun";
import type { Logger } from "../../runtime/index.ts";
import { ServerWsLink, type Link } from "../transport/index.ts";
import { authorize } from "./auth.ts";
import { fail } from "./errors.ts";

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
  const server = Bun.serve({
    hostname: options.hostname,
    port: options.port,
    fetch: (req, srv) => app.fetch(req, { server: srv, ip: srv.requestIP(req) }),
    websocket,
    idleTimeout: 0,
  });
  return {
    url: new URL(`http://${formatHost(options.hostname)}:${server.port}`),
    port: server.port ?? 0,
    stop: () => server.stop(true),
  };
}

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
