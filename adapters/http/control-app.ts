// The control plane's HTTP surface (hono): native /v2 tasks, events (SSE), cancel, nodes, and the
// ops endpoints. Correlation ids run outermost so every response, errors included, carries one.

import { Hono, type Context } from "hono";
import type { Registry } from "prom-client";
import type { Logger } from "../../runtime/index.ts";
import { authorize, isLoopbackHost } from "./auth.ts";
import { errorResponse, fail } from "./errors.ts";
import type { ControlPort } from "./port.ts";
import { TaskRequestV2 } from "./schemas.ts";
import { createSseStream } from "./sse.ts";

export interface ControlAppOptions {
  port: ControlPort;
  registry: Registry;
  log: Logger;
  token?: string;
  authOptional?: boolean;
  version: string;
}

type Env = { Variables: { correlationId: string; identity: string } };

const CORRELATION_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export function createControlApp(options: ControlAppOptions): Hono<Env> {
  const app = new Hono<Env>();
  const { port, log } = options;

  app.use(async (c, next) => {
    const given = c.req.header("x-correlation-id");
    const id = given && CORRELATION_RE.test(given) ? given : crypto.randomUUID();
    c.set("correlationId", id);
    await next();
    c.res.headers.set("X-Correlation-Id", id);
  });

  app.use("/v2/*", async (c, next) => {
    // Set by serve(): the peer address, for the loopback rule of AUTH_OPTIONAL.
    const remote = (c.env as { ip?: { address?: string } } | undefined)?.ip?.address;
    const outcome = authorize(c.req.header("authorization"), options.token, {
      optional: options.authOptional,
      remoteLoopback: remote !== undefined && isLoopbackHost(remote),
    });
    if (!outcome.ok) {
      log.warn("Refused a request without a valid token", { identity: outcome.identity, path: c.req.path, reason: outcome.code, correlation_id: c.get("correlationId") });
      return fail(c, outcome.code, outcome.code === "MISSING_TOKEN" ? "missing or malformed bearer token" : "invalid bearer token");
    }
    c.set("identity", outcome.identity);
    await next();
  });

  app.get("/health", (c) => c.json({ status: "ok", version: options.version }));
  app.get("/ready", async (c) => {
    const state = await port.ready();
    return c.json(state, state.ready ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    const text = await options.registry.metrics();
    return c.text(text, 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  app.post("/v2/tasks", async (c) => {
    const body = await readJson(c);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    const parsed = TaskRequestV2.safeParse(body.value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.join(".") || "body";
      return fail(c, "INVALID_PARAMS", `${where}: ${issue?.message ?? "invalid"}`);
    }
    if (parsed.data.deadline_ms !== undefined && parsed.data.deadline_ms <= 0) {
      return fail(c, "DEADLINE_UNMET", "deadline_ms must be positive");
    }
    const outcome = await port.submit(parsed.data, { correlationId: c.get("correlationId") });
    if (!outcome.ok) return errorResponse(c, outcome.error);
    return c.json(outcome.admission, 202);
  });

  app.get("/v2/tasks/:id/events", async (c) => {
    const id = c.req.param("id");
    const stream = createSseStream(c.req.raw.signal);
    const subscription = await port.subscribe(id, stream.sink);
    if (!subscription) return fail(c, "NOT_FOUND", `task ${id} not found`);
    stream.attach(subscription);
    return new Response(stream.body, {
      status: 200,
      headers: {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        Connection: "keep-alive",
        "X-Accel-Buffering": "no",
      },
    });
  });

  app.post("/v2/tasks/:id/cancel", async (c) => {
    const id = c.req.param("id");
    const result = await port.cancel(id, "client");
    if (result === "unknown") return fail(c, "NOT_FOUND", `task ${id} not found`);
    return c.body(null, 204);
  });

  app.get("/v2/nodes", async (c) => {
    const nodes = await port.nodes();
    return c.json({ nodes, count: nodes.length });
  });

  app.notFound((c) => fail(c, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    log.error("Request failed unexpectedly", { path: c.req.path, error: err.message, correlation_id: c.get("correlationId") });
    const res = fail(c, "INTERNAL", "internal error");
    res.headers.set("X-Correlation-Id", c.get("correlationId") ?? crypto.randomUUID());
    return res;
  });

  return app;
}

async function readJson(c: Context): Promise<{ ok: true; value: unknown } | { ok: false; message: string }> {
  const type = c.req.header("content-type") ?? "";
  if (!type.includes("application/json")) return { ok: false, message: "Content-Type must be application/json" };
  try {
    return { ok: true, value: await c.req.json() };
  } catch {
    return { ok: false, message: "body is not valid JSON" };
  }
}
