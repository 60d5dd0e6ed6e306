// The control plane's HTTP surface (hono): ops endpoints, native /v2 routes and the route modules
// of the other areas (sessions, catalog, artifacts, pools...). Correlation ids run outermost so
// every response, errors included, carries one; then trace context (traceparent in and out); then
// header and body size limits; then auth.

import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Registry } from "prom-client";
import type { Logger } from "../../runtime/index.ts";
import { authorize, isLoopbackHost, parseBearer, tokensEqual, type KeyLookup } from "./auth.ts";
import { fail } from "./errors.ts";
import { nodeAuthFor } from "./node-auth.ts";
import { openAiFail } from "./openai/errors.ts";
import { API_VERSION, type ControlPort } from "../../contract/index.ts";
import { registerTaskRoutes } from "./routes/tasks.ts";
import { WS_PATH } from "./ws-api.ts";
import { buildControlOpenApi } from "./openapi/control-api.ts";
import { traceContext, type TraceVars } from "./trace.ts";

export interface ControlAppOptions {
  port: ControlPort;
  registry: Registry;
  log: Logger;
  token?: string;
  /** Named client keys (LLORCH_API_KEYS, LLORCH_API_KEYS_FILE): accepted beside `token`. */
  keys?: KeyLookup;
  /** When set, GET /metrics needs this bearer token (client tokens and keys do not open it). */
  metricsToken?: string;
  /** LLORCH_NODE_TOKEN: when set, the node routes take only it and no client route takes it (node-auth.ts). */
  nodeToken?: string;
  authOptional?: boolean;
  version: string;
  buildCommit?: string;
  buildTime?: string;
  /** Largest accepted request body (bytes). */
  maxBodyBytes?: number;
  sseChannelCap?: number;
  onSseDrop?: () => void;
  /** Route modules of the other areas, registered after auth. */
  routes?: ((app: Hono<ControlEnv>) => void)[];
}

export type ControlEnv = { Variables: { correlationId: string; identity: string } & TraceVars };

const CORRELATION_RE = /^[A-Za-z0-9._:-]{1,128}$/;
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Per header; Bun itself answers 431 (empty body) above 16 KiB of headers in total. */
export const MAX_HEADER_BYTES = 8192;

export function createControlApp(options: ControlAppOptions): Hono<ControlEnv> {
  const app = new Hono<ControlEnv>();
  const { port, log } = options;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  app.use(async (c, next) => {
    const given = c.req.header("x-correlation-id");
    const id = given && CORRELATION_RE.test(given) ? given : crypto.randomUUID();
    c.set("correlationId", id);
    await next();
    c.res.headers.set("X-Correlation-Id", id);
  });
  // W3C traceparent in, the server span's (or the client's own) out (trace.ts).
  app.use(traceContext());

  app.use(async (c, next) => {
    for (const [name, value] of c.req.raw.headers) {
      if (value.length > MAX_HEADER_BYTES) return fail(c, "INVALID_PARAMS", `header ${name} exceeds ${MAX_HEADER_BYTES} bytes`, {}, 431);
    }
    await next();
  });

  app.use(
    "/v2/*",
    bodyLimit({
      maxSize: maxBody,
      onError: (c) => fail(c, "INVALID_PARAMS", `request body exceeds ${maxBody} bytes`, {}, 413),
    }),
  );

  const guard: MiddlewareHandler<ControlEnv> = async (c, next) => {
    // Browsers cannot set headers on a WebSocket: without one, /v2/ws asks for {type:"auth"} first.
    if (c.req.path === WS_PATH && !c.req.header("authorization")) return next();
    // Set by serve(): the peer address, for the loopback rule of AUTH_OPTIONAL.
    const remote = (c.env as { ip?: { address?: string } } | undefined)?.ip?.address;
    const outcome = nodeAuthFor(c.req.method, c.req.path, c.req.header("authorization"), options.nodeToken) ?? authorize(c.req.header("authorization"), { token: options.token, keys: options.keys }, {
      optional: options.authOptional,
      remoteLoopback: remote !== undefined && isLoopbackHost(remote),
    });
    if (!outcome.ok) {
      log.warn("Refused a request without a valid token", { identity: outcome.identity, path: c.req.path, reason: outcome.code, correlation_id: c.get("correlationId") });
      const message = outcome.code === "MISSING_TOKEN" ? "missing or malformed bearer token" : "invalid bearer token";
      // OpenAI clients read {error:{code}}: the /v1 surface answers in that shape.
      return c.req.path.startsWith("/v1/") ? openAiFail(c, { code: outcome.code, message }) : fail(c, outcome.code, message);
    }
    c.set("identity", outcome.identity);
    await next();
  };
  app.use("/v2/*", guard);
  app.use("/v1/*", guard);

  app.get("/health", (c) => c.json({ status: "ok", version: options.version }));
  app.get("/ready", async (c) => {
    const state = await port.ready();
    return c.json(state, state.ready ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    if (options.metricsToken) {
      const bearer = parseBearer(c.req.header("authorization"));
      if (!bearer.ok) return fail(c, "MISSING_TOKEN", "/metrics needs the scrape token");
      if (!tokensEqual(bearer.token, options.metricsToken)) return fail(c, "BAD_TOKEN", "invalid scrape token");
    }
    const text = await options.registry.metrics();
    return c.text(text, 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  registerTaskRoutes(app, { port, sseChannelCap: options.sseChannelCap, onSseDrop: options.onSseDrop });

  app.get("/v2/meta/capabilities", async (c) => c.json(await port.capabilities()));
  app.get("/v2/meta/version", (c) =>
    c.json({ api_version: API_VERSION, build_commit: options.buildCommit ?? "unknown", build_time: options.buildTime ?? "unknown" }),
  );

  let openApi: ReturnType<typeof buildControlOpenApi> | undefined;
  app.get("/v2/openapi.json", (c) => c.json((openApi ??= buildControlOpenApi())));

  for (const register of options.routes ?? []) register(app);

  app.notFound((c) => fail(c, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    log.error("Request failed unexpectedly", { path: c.req.path, error: err.message, correlation_id: c.get("correlationId") });
    const res = fail(c, "INTERNAL", "internal error");
    res.headers.set("X-Correlation-Id", c.get("correlationId") ?? crypto.randomUUID());
    return res;
  });

  return app;
}
