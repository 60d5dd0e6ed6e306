// Artifacts on the wire (/v2/artifacts): content-addressed JSON documents, tagged for listing,
// and the port the routes call (docs/contract.md#artifacts).

import { z } from "zod";
import { ARTIFACT_ID_RE, Sha256Digest } from "./catalog.ts";
import type { PortResult } from "./errors.ts";

export const ArtifactKind = z.enum(["plan", "summary", "diff", "trace", "transcript", "logs", "other"]);
export type ArtifactKind = z.infer<typeof ArtifactKind>;

/**
 * A JSON object, passed through as it came: z.record would copy it key by key, and assigning a
 * `__proto__` key to the copy sets its prototype instead, so the stored document would not be the
 * one sent (and its id would not be the SHA-256 of what the client hashed).
 */
const JsonObject = z.custom<Record<string, unknown>>(
  (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  "expected an object",
).meta({ type: "object", additionalProperties: {} });

/** POST /v2/artifacts. The id is the SHA-256 of this document's canonical JSON, as sent. */
export const ArtifactV2 = z
  .object({
    kind: ArtifactKind,
    content: JsonObject,
    tags: z.array(z.string().max(256)).max(256).optional(),
    parent: z.string().max(256).nullable().optional(),
    metadata: JsonObject.optional(),
  })
  .strict();
export type ArtifactV2 = z.infer<typeof ArtifactV2>;

export const ArtifactRefV2 = z.object({
  id: z.string().regex(ARTIFACT_ID_RE),
  kind: ArtifactKind,
  digest: Sha256Digest,
  created_ms: z.number().int(),
  tags: z.array(z.string()),
});
export type ArtifactRefV2 = z.infer<typeof ArtifactRefV2>;

/** GET /v2/artifacts/{id}: the ref plus the stored document. */
export const ArtifactDocumentV2 = ArtifactRefV2.extend({
  parent: z.string().nullable(),
  metadata: JsonObject,
  content: JsonObject,
});
export type ArtifactDocumentV2 = z.infer<typeof ArtifactDocumentV2>;


export interface ArtifactsPort {
  /** Content-addressed: the same document always yields the same ref (and its first created_ms). */
  put(artifact: ArtifactV2): Promise<PortResult<ArtifactRefV2>>;
  /** Undefined when unknown; `id` is 64 lowercase hex. */
  get(id: string): Promise<ArtifactDocumentV2 | undefined>;
  /** Refs carrying every one of `tags` (and of `kind` when given), newest first. */
  list(query: { tags: string[]; kind?: string; limit: number }): Promise<ArtifactRefV2[]>;
}
