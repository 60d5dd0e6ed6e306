// The control plane's operations for the OpenAPI document, one entry per route of control-app.ts,
// its route modules and server.ts's /v2/ws (the specs live in the other files of this folder, one per
// area). Add an entry with every new route: openapi.test.ts fails on a route without one.

import type { ZodType } from "zod";
import { buildOpenApi, type ApiInfo, type Json, type JsonObject, type OpenApiDocument } from "./generator.ts";
import { API_VERSION, ErrorCode, ErrorEnvelope } from "../../../contract/index.ts";
import { withSizeLimits, type ControlOperation } from "./common.ts";
import { CATALOG_COMPONENTS, CATALOG_OPERATIONS } from "./catalog.ts";
import { META_COMPONENTS, META_OPERATIONS } from "./meta.ts";
import { OPENAI_COMPONENTS, OPENAI_OPERATIONS } from "./openai.ts";
import { OPENAI_EXTRA_COMPONENTS, OPENAI_EXTRA_OPERATIONS } from "./openai-extra.ts";
import { POOL_COMPONENTS, POOL_OPERATIONS } from "./pools.ts";
import { SESSION_COMPONENTS, SESSION_OPERATIONS } from "./sessions.ts";
import { TASK_COMPONENTS, TASK_OPERATIONS } from "./tasks.ts";
import { WS_COMPONENTS, WS_OPERATIONS } from "./ws.ts";

export type { ControlOperation } from "./common.ts";
export { StreamFrame } from "./tasks.ts";
export { WsClientFrame, WsServerFrame } from "./ws.ts";

export const CONTROL_API_INFO: ApiInfo = {
  title: "llama-orch control plane",
  version: API_VERSION,
  description:
    "Native API (/v2), the client WebSocket (/v2/ws) and the ops endpoints. With a token configured (LLORCH_API_TOKEN), every /v2 " +
    "request needs `Authorization: Bearer <token>`. Errors use the ErrorEnvelope; every response carries X-Correlation-Id, and every " +
    "429 carries Retry-After and X-Backoff-Ms. An unknown route is 404 NOT_FOUND.",
};

/** Published under components.schemas; their uses become $refs. */
export const CONTROL_COMPONENTS: Record<string, ZodType> = {
  ErrorCode,
  ErrorEnvelope,
  ...TASK_COMPONENTS,
  ...WS_COMPONENTS,
  ...SESSION_COMPONENTS,
  ...META_COMPONENTS,
  ...CATALOG_COMPONENTS,
  ...POOL_COMPONENTS,
  ...OPENAI_COMPONENTS,
  ...OPENAI_EXTRA_COMPONENTS,
};

let operations: ControlOperation[] | undefined;

/**
 * Every operation the control plane serves, with the size-limit responses of control-app's
 * middleware. Built on first use: control-app.ts imports this module, so its limits are not
 * initialised while the modules load.
 */
export function controlOperations(): ControlOperation[] {
  operations ??= [
    ...TASK_OPERATIONS,
    ...WS_OPERATIONS,
    ...SESSION_OPERATIONS,
    ...META_OPERATIONS,
    ...CATALOG_OPERATIONS,
    ...POOL_OPERATIONS,
    ...OPENAI_OPERATIONS,
    ...OPENAI_EXTRA_OPERATIONS,
  ].map(withSizeLimits);
  return operations;
}

/** The document served at /v2/openapi.json and written to docs/openapi.json. */
export function buildControlOpenApi(): OpenApiDocument {
  const ops = controlOperations();
  const doc = buildOpenApi(ops, CONTROL_API_INFO, { components: CONTROL_COMPONENTS });
  // What OperationSpec cannot say yet: request header parameters, and a token that may come later.
  for (const op of ops) {
    const target = (doc.paths[op.path] as JsonObject)[op.method] as JsonObject;
    const parameters = target.parameters as Json[];
    for (const [name, h] of Object.entries(op.requestHeaders ?? {})) {
      parameters.push({ name, in: "header", required: false, description: h.description, schema: { ...h.schema } });
    }
    if (op.authAfterUpgrade) target.security = [{ bearerAuth: [] }, {}];
  }
  return doc;
}
