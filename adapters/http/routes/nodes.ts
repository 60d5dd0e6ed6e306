// /v2/nodes: the list of nodes, and the REST mirror of the node link's register, heartbeat and
// deregister (docs/contract.md#nodes). Errors use the contract's envelope.

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
    return c.json({ success: true, next_heartbeat_ms: outcome.next_heartbeat_ms });
  });

  app.delete("/v2/nodes/:id", async (c) => {
    const id = c.req.param("id");
    if (!(await port.deregister(id))) return fail(c, "NOT_FOUND", `node ${id} is not registered`);
    return c.body(null, 204);
  });
}
