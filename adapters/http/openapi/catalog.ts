// Operations of the catalog routes (routes/catalog.ts) and the artifact routes
// (routes/artifacts.ts). Errors beyond validation come from the catalog and artifact actors:
// NOT_FOUND, UNTRUSTED_ARTIFACT (trust policy, digest mismatch) and INTERNAL (a failed write).

import { z, type ZodType } from "zod";
import { ArtifactDocumentV2, ArtifactKind, ArtifactRefV2, ArtifactV2, AvailabilityModel, AvailabilityNode, CatalogAvailability, CatalogModelRequestV2, CatalogModelV2, CatalogStateRequest, CatalogStateResponse, CatalogVerifyResponse, ErrorEnvelope, Lifecycle, Manifest, Sbom, Sha256Digest, Signature, TrustPolicy, VerifyResult } from "../../../contract/index.ts";
import { BAD_JSON_BODY, INTERNAL, type ControlOperation } from "./common.ts";

const CatalogModelList = z.object({ models: z.array(CatalogModelV2), count: z.number().int().min(0) });

/** 400 of verify on a digest mismatch: the envelope plus what was expected and found. */
const DigestMismatchError = z
  .intersection(ErrorEnvelope, z.object({ id: z.string(), expected_digest: Sha256Digest.optional(), actual_digest: Sha256Digest.optional() }))
  .describe("UNTRUSTED_ARTIFACT with the model id and both digests");

const WRITE_FAILED: Record<number, { description: string }> = {
  500: { description: "INTERNAL: the catalog index could not be written (nothing changed), or an unexpected failure" },
};

export const CATALOG_COMPONENTS: Record<string, ZodType> = {
  Sha256Digest,
  Lifecycle,
  TrustPolicy,
  Manifest,
  Signature,
  Sbom,
  CatalogModelRequestV2,
  CatalogModelV2,
  CatalogModelList,
  VerifyResult,
  CatalogVerifyResponse,
  DigestMismatchError,
  CatalogStateRequest,
  CatalogStateResponse,
  AvailabilityModel,
  AvailabilityNode,
  CatalogAvailability,
  ArtifactKind,
  ArtifactV2,
  ArtifactRefV2,
  ArtifactDocumentV2,
};

export const CATALOG_OPERATIONS: ControlOperation[] = [
  {
    method: "post",
    path: "/v2/catalog/models",
    operationId: "createCatalogModelV2",
    summary: "Register (or replace) a model in the catalog",
    description: "`id` is the name tasks use as `model_ref`. Registering an id again replaces the entry and keeps its lifecycle and created_ms.",
    tags: ["catalog"],
    auth: true,
    requestHeaders: {
      "X-Trust-Policy": {
        description:
          "`strict` checks this request in strict mode whatever the configured policy: a verified signature is needed (unless require_signature is false), " +
          "an SBOM when require_sbom, a source in allowed_registries. `permissive` changes nothing. Case-insensitive.",
        schema: { type: "string", enum: ["strict", "permissive"] },
      },
    },
    request: { body: CatalogModelRequestV2 },
    responses: {
      200: { description: "Replaced an entry with the same id", schema: CatalogModelV2 },
      201: { description: "Registered a new entry", schema: CatalogModelV2 },
      400: { description: `${BAD_JSON_BODY}; INVALID_PARAMS for an X-Trust-Policy other than strict or permissive; UNTRUSTED_ARTIFACT when the trust policy refuses the model` },
      ...WRITE_FAILED,
    },
  },
  {
    method: "get",
    path: "/v2/catalog/models",
    operationId: "listCatalogModelsV2",
    summary: "List the catalog",
    tags: ["catalog"],
    auth: true,
    responses: { 200: { description: "Every entry, Active and Retired", schema: CatalogModelList }, ...INTERNAL },
  },
  {
    method: "get",
    path: "/v2/catalog/availability",
    operationId: "getCatalogAvailabilityV2",
    summary: "Which nodes serve which models",
    description: "Both shapes at once: the per-model list and the per-node map.",
    tags: ["catalog"],
    auth: true,
    responses: { 200: { description: "Availability over the registered nodes", schema: CatalogAvailability }, ...INTERNAL },
  },
  {
    method: "get",
    path: "/v2/catalog/models/{id}",
    operationId: "getCatalogModelV2",
    summary: "One catalog entry",
    tags: ["catalog"],
    auth: true,
    responses: { 200: { description: "The entry", schema: CatalogModelV2 }, 404: { description: "NOT_FOUND: no such model" }, ...INTERNAL },
  },
  {
    method: "delete",
    path: "/v2/catalog/models/{id}",
    operationId: "deleteCatalogModelV2",
    summary: "Forget a catalog entry (the model's files stay)",
    tags: ["catalog"],
    auth: true,
    responses: { 204: { description: "Deleted" }, 404: { description: "NOT_FOUND: no such model" }, ...WRITE_FAILED },
  },
  {
    method: "post",
    path: "/v2/catalog/models/{id}/verify",
    operationId: "verifyCatalogModelV2",
    summary: "Hash the model's local file and check it against its digest",
    description:
      "No body. A missing or unreadable local file (or a remote source) is a completed verification with result `fail`; an entry without a digest passes with a warning. " +
      "Only a digest mismatch is an error.",
    tags: ["catalog"],
    auth: true,
    responses: {
      202: { description: "Verified; `result` says pass or fail and `reason` why", schema: CatalogVerifyResponse },
      400: { description: "UNTRUSTED_ARTIFACT: the file's SHA-256 differs from the entry's digest", schema: DigestMismatchError },
      404: { description: "NOT_FOUND: no such model" },
      ...INTERNAL,
    },
  },
  {
    method: "post",
    path: "/v2/catalog/models/{id}/state",
    operationId: "setCatalogModelStateV2",
    summary: "Retire or re-activate a model",
    description: "A Retired model refuses new tasks (503 MODEL_NOT_AVAILABLE); running ones finish.",
    tags: ["catalog"],
    auth: true,
    request: { body: CatalogStateRequest },
    responses: {
      202: { description: "Applied; `changed` is false when the model was already in that state", schema: CatalogStateResponse },
      400: { description: `${BAD_JSON_BODY}; DEADLINE_UNMET when deadline_ms is not positive` },
      404: { description: "NOT_FOUND: no such model" },
      ...WRITE_FAILED,
    },
  },
  {
    method: "post",
    path: "/v2/artifacts",
    operationId: "createArtifactV2",
    summary: "Store a content-addressed document (plan, trace, transcript, ...)",
    description: "The id is the lowercase hex SHA-256 of the canonical JSON (sorted keys) of the request; posting the same document again returns the same ref.",
    tags: ["artifacts"],
    auth: true,
    request: { body: ArtifactV2 },
    responses: {
      201: {
        description: "Stored (or already stored)",
        schema: ArtifactRefV2,
        headers: { Location: { description: "/v2/artifacts/{id}" } },
      },
      400: { description: BAD_JSON_BODY },
      500: { description: "INTERNAL: the artifact could not be written, or an unexpected failure" },
    },
  },
  {
    method: "get",
    path: "/v2/artifacts",
    operationId: "listArtifactsV2",
    summary: "Artifact refs carrying every given tag (e.g. a task's transcript: tag=task:<id>), newest first",
    tags: ["artifacts"],
    auth: true,
    request: {
      query: z.object({
        tag: z.string().optional().describe("Repeatable; every tag must be present"),
        kind: ArtifactKind.optional(),
        limit: z.number().int().min(1).max(1000).optional().describe("Default 100"),
      }),
    },
    responses: {
      200: { description: "Matching refs", schema: z.object({ artifacts: z.array(ArtifactRefV2), count: z.number().int() }) },
      400: { description: "INVALID_PARAMS: bad limit or kind" },
      ...INTERNAL,
    },
  },
  {
    method: "get",
    path: "/v2/artifacts/{id}",
    operationId: "getArtifactV2",
    summary: "A stored artifact: its ref and document",
    description: "`id` is 64 hex digits (case-insensitive); anything else names no artifact.",
    tags: ["artifacts"],
    auth: true,
    responses: {
      200: { description: "The artifact", schema: ArtifactDocumentV2 },
      404: { description: "NOT_FOUND: no such artifact, or not an artifact id" },
      500: { description: "INTERNAL: the stored artifact is unreadable, or an unexpected failure" },
    },
  },
];
