// GET /v2/sessions/{id} and DELETE /v2/sessions/{id} (docs/contract.md#sessions): an unknown or
// expired session is 404 NOT_FOUND; DELETE is 204 whether or not the session existed.

import type { Env, Hono } from "hono";
import { fail } from "../errors.ts";
import type { SessionsPort } from "../../../contract/index.ts";

// Any Env: the routes read nothing from the context's variables.
export function registerSessionRoutes<E extends Env>(app: Hono<E>, port: SessionsPort): void {
  app.get("/v2/sessions/:id", async (c) => {
    const id = c.req.param("id");
    const info = await port.get(id);
    if (!info) return fail(c, "NOT_FOUND", `session ${id} not found`);
    return c.json(info, 200);
  });

  app.delete("/v2/sessions/:id", async (c) => {
    await port.delete(c.req.param("id"));
    return c.body(null, 204);
  });
}
