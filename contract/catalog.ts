// The model catalog on the wire (/v2/catalog/*) and the port its routes call. Requests are strict
// (unknown keys are refused); responses describe what the routes send. Digests are strings
// "sha256:<64 lowercase hex>"; artifact ids are the bare 64 hex (docs/contract.md#catalog).

import { z } from "zod";
import { isSafeText, safeText } from "./ids.ts";
import type { PortResult } from "./errors.ts";

export const SHA256_DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
export const ARTIFACT_ID_RE = /^[0-9a-f]{64}$/;

export const Sha256Digest = z.string().regex(SHA256_DIGEST_RE, 'digest must be "sha256:" followed by 64 lowercase hex digits');

export const Lifecycle = z.enum(["Active", "Retired"]);
export type Lifecycle = z.infer<typeof Lifecycle>;

export const TrustPolicy = z
  .object({
    mode: z.enum(["strict", "permissive"]).optional(),
    allowed_registries: z.array(z.string().min(1)).optional(),
    require_signature: z.boolean().optional(),
    require_sbom: z.boolean().optional(),
    ca_roots: z.array(z.string()).optional(),
  })
  .strict();
export type TrustPolicy = z.infer<typeof TrustPolicy>;

export const Manifest = z.object({ digest: Sha256Digest, size_bytes: z.number().int().min(0) }).strict();
export const Signature = z
  .object({ signer: z.string().min(1), algo: z.string().min(1), verified: z.boolean(), timestamp_ms: z.number().int().min(0) })
  .strict();
export const Sbom = z.object({ uri: z.string().min(1), digest: Sha256Digest.optional() }).strict();

/** POST /v2/catalog/models. `id` is the name tasks use as `model_ref`. */
export const CatalogModelRequestV2 = z
  .object({
    id: z
      .string({ error: "id required" })
      .min(1, "id required")
      .max(512)
      .refine((id) => id.trim() === id && isSafeText(id), "id must not have surrounding spaces, control characters or lone surrogates"),
    digest: Sha256Digest.optional(),
    /** `file:` URL or plain path for a local model; remote schemes are stored as given. */
    source_url: safeText(4096).optional(),
    tags: z.array(z.string().max(256)).max(64).optional(),
    manifests: z.array(Manifest).max(1024).optional(),
    signatures: z.array(Signature).max(64).optional(),
    sbom: Sbom.optional(),
    trust_policy: TrustPolicy.optional(),
  })
  .strict();
export type CatalogModelRequestV2 = z.infer<typeof CatalogModelRequestV2>;

export const VerifyResult = z.enum(["pass", "fail"]);
export type VerifyResult = z.infer<typeof VerifyResult>;

/** A catalog entry as the API returns it: the request's fields plus lifecycle and verification. */
export const CatalogModelV2 = z.object({
  id: z.string(),
  digest: Sha256Digest.optional(),
  source_url: z.string().optional(),
  tags: z.array(z.string()),
  manifests: z.array(Manifest),
  signatures: z.array(Signature),
  sbom: Sbom.optional(),
  trust_policy: TrustPolicy.optional(),
  lifecycle: Lifecycle,
  created_ms: z.number().int(),
  updated_ms: z.number().int(),
  /** Time of the last completed verification, whatever its result; absent until the first. */
  last_verified_ms: z.number().int().optional(),
  last_verify_result: VerifyResult.optional(),
  last_verify_reason: z.string().optional(),
});
export type CatalogModelV2 = z.infer<typeof CatalogModelV2>;

/** 202 body of POST /v2/catalog/models/{id}/verify. */
export const CatalogVerifyResponse = z.object({
  id: z.string(),
  result: VerifyResult,
  reason: z.string(),
  expected_digest: Sha256Digest.optional(),
  actual_digest: Sha256Digest.optional(),
  /** Why a failed verification failed, in words (e.g. the path that is missing). */
  detail: z.string().optional(),
  warnings: z.array(z.string()),
  last_verified_ms: z.number().int(),
});
export type CatalogVerifyResponse = z.infer<typeof CatalogVerifyResponse>;

export const CatalogStateRequest = z
  .object({ state: Lifecycle, deadline_ms: z.number().int().max(2 ** 31 - 1).optional() })
  .strict();
export type CatalogStateRequest = z.infer<typeof CatalogStateRequest>;

/** 202 body of POST /v2/catalog/models/{id}/state. */
export const CatalogStateResponse = z.object({
  id: z.string(),
  state: Lifecycle,
  previous: Lifecycle,
  changed: z.boolean(),
  deadline_ms: z.number().int().optional(),
});
export type CatalogStateResponse = z.infer<typeof CatalogStateResponse>;

export const AvailabilityModel = z.object({
  model_id: z.string(),
  nodes: z.array(z.string()),
  total_nodes: z.number().int(),
  total_capacity: z.number().int(),
});

export const AvailabilityNode = z.object({
  node_id: z.string(),
  address: z.string().nullable(),
  online: z.boolean(),
  models: z.array(z.string()),
  pools: z.array(z.object({ pool_id: z.string(), ready: z.boolean(), models: z.array(z.string()) })),
});

/** GET /v2/catalog/availability: both the per-model list and the per-node map (docs/contract.md#catalog). */
export const CatalogAvailability = z.object({
  models: z.array(AvailabilityModel),
  nodes: z.record(z.string(), AvailabilityNode),
  total_models: z.number().int(),
  replicated_models: z.array(z.string()),
  single_node_models: z.array(z.string()),
});
export type CatalogAvailability = z.infer<typeof CatalogAvailability>;

export interface CatalogPort {
  /** `created` is false when an entry with this id was replaced. Trust failures: UNTRUSTED_ARTIFACT. */
  create(model: CatalogModelRequestV2, options: { trust?: "strict" }): Promise<PortResult<{ model: CatalogModelV2; created: boolean }>>;
  get(id: string): Promise<CatalogModelV2 | undefined>;
  list(): Promise<CatalogModelV2[]>;
  /** Forgets the entry (the model's files stay). Errors: NOT_FOUND. */
  delete(id: string): Promise<PortResult<void>>;
  /** Hashes the model's local file. Errors: NOT_FOUND, UNTRUSTED_ARTIFACT (digest mismatch). */
  verify(id: string): Promise<PortResult<CatalogVerifyResponse>>;
  /** Errors: NOT_FOUND. */
  setState(id: string, request: CatalogStateRequest): Promise<PortResult<CatalogStateResponse>>;
  availability(): Promise<CatalogAvailability>;
}
