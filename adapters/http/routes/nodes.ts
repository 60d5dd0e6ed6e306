// /v2/nodes: the list of nodes, and the REST mirror of the node link's register, heartbeat and
// deregister (docs/contract.md#nodes). Errors use the contract's envelope. A node a node link
// speaks for is the link's alone: REST may not heartbeat it, nor deregister it while the link lives.

import type { Hono } from "hono";
import { fail } from "../errors.ts";
import { HeartbeatRequest, RegisterRequest, type NodesPort } from "../../../contract/index.ts";
import { readBody } from "./read-body.ts";

export function registerNodeRoutes(app: Hono<any>, port: NodesPort): void {
  app.get("/v2/nodes", async (c) => {
    const nodes = await port.list();
    return c.json({ nodes, count: nodes.length });
  });

  app.post("/v2/nodes/register", async (c) => {
    const body = await readBody(c, RegisterRequest);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    const outcome = await port.register(body.value);
    if (!outcome.ok) return fail(c, "INVALID_PARAMS", outcome.message);
    return c.json({ success: true, message: outcome.message, node_id: body.value.node_id });
  });

  app.post("/v2/nodes/:id/heartbeat", async (c) => {
    const id = c.req.param("id");
    const body = await readBody(c, HeartbeatRequest);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    const outcome = await port.heartbeat(id, body.value);
    if (!outcome) return fail(c, "NOT_FOUND", `node ${id} is not registered`);
    // Its slots and readiness come from its own link: a REST heartbeat may not speak for it.
    if (outcome === "linked") return fail(c, "INVALID_PARAMS", `node ${id} is connected over the node link; a REST heartbeat may not update it`);
    return c.json({ success: true, next_heartbeat_ms: outcome.next_heartbeat_ms });
  });

  app.delete("/v2/nodes/:id", async (c) => {
    const id = c.req.param("id");
    const outcome = await port.deregister(id);
    if (!outcome) return fail(c, "NOT_FOUND", `node ${id} is not registered`);
    if (outcome === "linked") return fail(c, "INVALID_PARAMS", `node ${id} is connected over a live node link; it deregisters itself (or its link closes)`);
    return c.body(null, 204);
  });
}
