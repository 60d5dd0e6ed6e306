// Artifact actor protocol: content-addressed documents (plans, traces, transcripts, …).

import type { ActorRef } from "../../../runtime/index.ts";
import type { ArtifactDocumentV2, ArtifactRefV2, ArtifactV2, PortResult } from "../../../contract/index.ts";

export type ArtifactsMsg =
  /** Stores the document unless it is already there; either way answers its ref. */
  | { type: "put"; artifact: ArtifactV2 }
  /** `id` is 64 lowercase hex; anything else is simply not found. */
  | { type: "get"; id: string }
  /** Refs with all of `tags` (and of `kind`), newest first. */
  | { type: "list"; tags: string[]; kind?: string; limit: number };

export interface ArtifactsReplies {
  put: PortResult<ArtifactRefV2>;
  /** `value` undefined: no such artifact. An error: the stored file is unreadable. */
  get: PortResult<ArtifactDocumentV2 | undefined>;
  list: ArtifactRefV2[];
}

export type ArtifactsRef = ActorRef<ArtifactsMsg, ArtifactsReplies>;
