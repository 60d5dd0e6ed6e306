// Operations of the session routes (routes/sessions.ts). A session is created by the first task
// that names it (docs/contract.md#sessions), so there is no create operation.

import type { ZodType } from "zod";
import { SessionInfoV2 } from "../../../contract/index.ts";
import { INTERNAL, type ControlOperation } from "./common.ts";

export const SESSION_COMPONENTS: Record<string, ZodType> = { SessionInfoV2 };

export const SESSION_OPERATIONS: ControlOperation[] = [
  {
    method: "get",
    path: "/v2/sessions/{id}",
    operationId: "getSessionV2",
    summary: "A session's TTL, turns, KV warmth and remaining budgets",
    description: "Metadata only: sessions keep no prompts or outputs.",
    tags: ["sessions"],
    auth: true,
    responses: {
      200: { description: "The session", schema: SessionInfoV2 },
      404: { description: "NOT_FOUND: no such session, or it expired" },
      ...INTERNAL,
    },
  },
  {
    method: "delete",
    path: "/v2/sessions/{id}",
    operationId: "deleteSessionV2",
    summary: "Forget a session (idempotent)",
    tags: ["sessions"],
    auth: true,
    responses: { 204: { description: "Gone, whether or not it existed" }, ...INTERNAL },
  },
];
