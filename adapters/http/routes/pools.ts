// Pools control routes (docs/contract.md#pools-control): health, drain, reload, preload and purge of a pool, forwarded
// by the control plane to the nodes holding it. Bodies are validated here, once, strictly.
//
//   GET  /v2/pools/{id}/health[?node_id=]   200 PoolHealthV2 | 404
//   POST /v2/pools/{id}/drain  {deadline_ms, node_id?}                      202 | 404 | 409 | 503
//   POST /v2/pools/{id}/reload {new_model_ref, deadline_ms?, node_id?}     200 | 404 | 409 | 503
//   POST /v2/pools/{id}/preload [{node_id?}]                               200 | 404 | 409 | 503
//   POST /v2/pools/{id}/purge   [{node_id?}]                               200 | 404 | 409 | 500 | 503

import type { Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { fail } from "../errors.ts";
import { HTTP_STATUS, PoolDrainRequest, PoolPreloadRequest, PoolPurgeRequest, PoolReloadRequest, type PoolsFailure, type PoolsPort } from "../../../contract/index.ts";
import { readBody, readOptionalBody } from "./read-body.ts";

export function registerPoolRoutes(app: Hono<any>, port: PoolsPort): void {
  app.get("/v2/pools/:id/health", async (c) => {
    const nodeId = c.req.query("node_id");
    if (nodeId !== undefined && (nodeId.length === 0 || nodeId.length > 128)) return fail(c, "INVALID_PARAMS", "node_id: must be 1-128 characters");
    const outcome = await port.health(c.req.param("id"), { nodeId });
    return outcome.ok ? c.json(outcome.value, 200) : failure(c, outcome);
  });

  app.post("/v2/pools/:id/drain", async (c) => {
    const body = await readBody(c, PoolDrainRequest);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    const outcome = await port.drain(c.req.param("id"), body.value);
    return outcome.ok ? c.json(outcome.value, 202) : failure(c, outcome);
  });

  app.post("/v2/pools/:id/reload", async (c) => {
    const body = await readBody(c, PoolReloadRequest);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    const outcome = await port.reload(c.req.param("id"), body.value);
    return outcome.ok ? c.json(outcome.value, 200) : failure(c, outcome);
  });

  app.post("/v2/pools/:id/preload", async (c) => {
    const body = await readOptionalBody(c, PoolPreloadRequest);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    const outcome = await port.preload(c.req.param("id"), body.value);
    return outcome.ok ? c.json(outcome.value, 200) : failure(c, outcome);
  });

  app.post("/v2/pools/:id/purge", async (c) => {
    const body = await readOptionalBody(c, PoolPurgeRequest);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    const outcome = await port.purge(c.req.param("id"), body.value);
    return outcome.ok ? c.json(outcome.value, 200) : failure(c, outcome);
  });
}

/** The error envelope, plus `rolled_back` and per-node results where the operation had them. */
function failure(c: Context, outcome: PoolsFailure): Response {
  const status: ContentfulStatusCode = outcome.conflict ? 409 : HTTP_STATUS[outcome.error.code];
  const body: Record<string, unknown> = { ...outcome.error };
  if (outcome.rolled_back !== undefined) body.rolled_back = outcome.rolled_back;
  if (outcome.nodes) body.nodes = outcome.nodes;
  return c.json(body, status);
}
