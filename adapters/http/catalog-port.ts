// What the catalog and artifact routes need from the control plane. Implemented on top of the
// catalog and artifact actors (actors/control/catalog, actors/control/artifacts); kept here so
// adapters never import the domain.

import type { ErrorEnvelope } from "./schemas.ts";
import type {
  ArtifactDocumentV2,
  ArtifactRefV2,
  ArtifactV2,
  CatalogAvailability,
  CatalogModelRequestV2,
  CatalogModelV2,
  CatalogStateRequest,
  CatalogStateResponse,
  CatalogVerifyResponse,
} from "./schemas-catalog.ts";

/** An error envelope, possibly with extra fields (e.g. `expected_digest`, `actual_digest`). */
export type PortError = ErrorEnvelope & Record<string, unknown>;

export type PortResult<T> = { ok: true; value: T } | { ok: false; error: PortError };

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

export interface ArtifactsPort {
  /** Content-addressed: the same document always yields the same ref (and its first created_ms). */
  put(artifact: ArtifactV2): Promise<PortResult<ArtifactRefV2>>;
  /** Undefined when unknown; `id` is 64 lowercase hex. */
  get(id: string): Promise<ArtifactDocumentV2 | undefined>;
  /** Refs carrying every one of `tags` (and of `kind` when given), newest first. */
  list(query: { tags: string[]; kind?: string; limit: number }): Promise<ArtifactRefV2[]>;
}
