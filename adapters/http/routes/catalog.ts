// Catalog routes (/v2/catalog/*): register, read, delete, verify and retire models, and the
// cluster-wide availability view. Validation happens here, once; the port does the work.

import type { Hono } from "hono";
import { CatalogModelRequestV2, type CatalogPort, CatalogStateRequest } from "../../../contract/index.ts";
import { errorResponse, fail } from "../errors.ts";
import { readBody } from "./read-body.ts";

export function registerCatalogRoutes(app: Hono<any>, port: CatalogPort): void {
  app.post("/v2/catalog/models", async (c) => {
    const header = c.req.header("x-trust-policy")?.trim().toLowerCase();
    if (header !== undefined && header !== "strict" && header !== "permissive") {
      return fail(c, "INVALID_PARAMS", "X-Trust-Policy must be strict or permissive");
    }
    const body = await readBody(c, CatalogModelRequestV2);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    const outcome = await port.create(body.value, { trust: header === "strict" ? "strict" : undefined });
    if (!outcome.ok) return errorResponse(c, outcome.error);
    // A new entry is 201; replacing an existing id answers 200 with the new entry.
    return c.json(outcome.value.model, outcome.value.created ? 201 : 200);
  });

  app.get("/v2/catalog/models", async (c) => {
    const models = await port.list();
    return c.json({ models, count: models.length });
  });

  app.get("/v2/catalog/availability", async (c) => c.json(await port.availability()));

  app.get("/v2/catalog/models/:id", async (c) => {
    const id = c.req.param("id");
    const model = await port.get(id);
    return model ? c.json(model) : fail(c, "NOT_FOUND", `model ${id} not found`);
  });

  app.delete("/v2/catalog/models/:id", async (c) => {
    const outcome = await port.delete(c.req.param("id"));
    return outcome.ok ? c.body(null, 204) : errorResponse(c, outcome.error);
  });

  app.post("/v2/catalog/models/:id/verify", async (c) => {
    const outcome = await port.verify(c.req.param("id"));
    return outcome.ok ? c.json(outcome.value, 202) : errorResponse(c, outcome.error);
  });

  app.post("/v2/catalog/models/:id/state", async (c) => {
    const body = await readBody(c, CatalogStateRequest);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    if (body.value.deadline_ms !== undefined && body.value.deadline_ms <= 0) {
      return fail(c, "DEADLINE_UNMET", "deadline_ms must be positive");
    }
    const outcome = await port.setState(c.req.param("id"), body.value);
    return outcome.ok ? c.json(outcome.value, 202) : errorResponse(c, outcome.error);
  });
}
