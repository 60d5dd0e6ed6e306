// Artifact routes (/v2/artifacts): content-addressed documents (plans, traces, transcripts, …).
// An id that is not 64 hex digits cannot name an artifact, so it is answered 404 like any unknown id.

import type { Hono } from "hono";
import { ARTIFACT_ID_RE, ArtifactKind, type ArtifactsPort, ArtifactV2 } from "../../../contract/index.ts";
import { errorResponse, fail } from "../errors.ts";
import { readBody } from "./read-body.ts";

export function registerArtifactRoutes(app: Hono<any>, port: ArtifactsPort): void {
  app.post("/v2/artifacts", async (c) => {
    const body = await readBody(c, ArtifactV2);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    const outcome = await port.put(body.value);
    if (!outcome.ok) return errorResponse(c, outcome.error);
    c.header("Location", `/v2/artifacts/${outcome.value.id}`);
    return c.json(outcome.value, 201);
  });

  app.get("/v2/artifacts", async (c) => {
    const tags = c.req.queries("tag") ?? [];
    const kind = c.req.query("kind");
    const limitRaw = c.req.query("limit") ?? "100";
    const limit = Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return fail(c, "INVALID_PARAMS", "limit must be an integer from 1 to 1000");
    if (kind !== undefined && !ArtifactKind.safeParse(kind).success) return fail(c, "INVALID_PARAMS", `unknown kind '${kind}'`);
    const artifacts = await port.list({ tags, kind, limit });
    return c.json({ artifacts, count: artifacts.length });
  });

  app.get("/v2/artifacts/:id", async (c) => {
    const id = c.req.param("id").toLowerCase();
    const doc = ARTIFACT_ID_RE.test(id) ? await port.get(id) : undefined;
    return doc ? c.json(doc) : fail(c, "NOT_FOUND", `artifact ${c.req.param("id")} not found`);
  });
}
