// Catalog actor protocol: model entries with lifecycle (Active|Retired) and digest verification.
// Replies to bad input are `{ok:false, error}` envelopes, never crashes.

import type { ActorRef, Outcome } from "../../../runtime/index.ts";
import type { CatalogModelRequestV2, CatalogModelV2, CatalogStateResponse, CatalogVerifyResponse, Lifecycle, PortError, PortResult } from "../../../contract/index.ts";
import type { ConfinedHash, HashRefusal } from "../../../adapters/storage/confined-hash.ts";

export type CatalogMsg =
  | { type: "create"; model: CatalogModelRequestV2; trust?: "strict" }
  | { type: "get"; id: string }
  | { type: "list" }
  | { type: "delete"; id: string }
  /** Hashes the local file aside; concurrent verifies of one id share one hash. */
  | { type: "verify"; id: string }
  | { type: "set-state"; id: string; state: Lifecycle; deadline_ms?: number }
  /** For the scheduler: undefined when the model is not in the catalog. */
  | { type: "lifecycle"; model_id: string }
  /** Private: a hash started by `verify` finished. */
  | { type: "hashed"; id: string; path?: string; outcome: Outcome<ConfinedHash> };

export interface CatalogReplies {
  create: PortResult<{ model: CatalogModelV2; created: boolean }>;
  get: CatalogModelV2 | undefined;
  list: CatalogModelV2[];
  delete: PortResult<void>;
  verify: PortResult<CatalogVerifyResponse>;
  "set-state": PortResult<CatalogStateResponse>;
  lifecycle: Lifecycle | undefined;
}

export type CatalogRef = ActorRef<CatalogMsg, CatalogReplies>;

/** Why a verification ended as it did; also the `reason` label of catalog_verifications_total. */
/** The last five: the file was refused before or while hashing (catalog roots, regular files, size and time limits). */
export type VerifyReason = "digest_match" | "no_digest" | "digest_mismatch" | "file_missing" | "unreadable" | HashRefusal;

/** Structural metrics sink; the control plane adapts prom-client to it. */
export interface CatalogMetrics {
  verification(result: "pass" | "fail", reason: VerifyReason): void;
  /** The current state of a model: 1 for `state`, 0 for the other. */
  modelState(model_id: string, state: Lifecycle): void;
  /** The model left the catalog: drop its series. */
  modelRemoved?(model_id: string): void;
}

/** Told on every lifecycle change, e.g. so the scheduler stops placing a Retired model. */
export interface LifecycleChange {
  model_id: string;
  state: Lifecycle | "Deleted";
  deadline_ms?: number;
}

export type { PortError };
