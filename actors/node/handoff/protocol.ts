// The handoff watcher's protocol: what it answers, and the private messages of its scan loop.

import type { ActorRef, Outcome } from "../../../runtime/index.ts";
import type { Handoff } from "./parse.ts";

/** What the node does with a valid handoff (the lead's pool subtree over an external engine). */
export type HandoffBind = (h: Handoff) => Promise<{ ok: true } | { ok: false; reason: string }>;

/** Outcome label of `pool_handoff_files_processed_total`. */
export type HandoffOutcome = "bound" | "invalid" | "bind_failed" | "duplicate";

export interface BoundHandoff {
  key: string;
  pool_id: string;
  replica_id: string;
  url: string;
  model_id: string;
  file: string;
  bound_at_ms: number;
}

/** The last problem with a file still in the directory; cleared when it binds or goes away. */
export interface HandoffFileError {
  file: string;
  outcome: Exclude<HandoffOutcome, "bound">;
  reason: string;
  at_ms: number;
}

export interface HandoffStatus {
  dir: string;
  interval_ms: number;
  auto_delete: boolean;
  /** A scan is in progress (listing, reading or binding). */
  scanning: boolean;
  /** Completed scans since start. */
  scans: number;
  bound: BoundHandoff[];
  errors: HandoffFileError[];
  /** Why the directory could not be listed at the last scan (a missing directory is no error). */
  list_error?: string;
}

/** A file of the directory with its fingerprint (inode, mtime, size): a change means re-read. */
export interface ListedFile {
  name: string;
  fp: string;
}

export type ReadResult =
  | { kind: "read"; fp: string; text: string }
  | { kind: "gone" }
  | { kind: "unreadable"; fp: string; reason: string };

export type BindResult = { ok: true; deleteError?: string } | { ok: false; reason: string };

export type HandoffWatcherMsg =
  | { type: "status" }
  /** Scans now; answers with the status once a scan that began after this message has ended. */
  | { type: "scan" }
  /** Answers with the status once no scan is in progress (at once when idle). */
  | { type: "settle" }
  /** The node let go of this pool replica: a handoff for it may bind again. */
  | { type: "release"; pool_id: string; replica_id: string }
  /** Private: time to scan. */
  | { type: "handoff-tick" }
  /** Private: the directory listing. */
  | { type: "handoff-listed"; outcome: Outcome<ListedFile[]> }
  /** Private: one file read. */
  | { type: "handoff-read"; name: string; started: number; outcome: Outcome<ReadResult> }
  /** Private: `bind` (and the deletion after it) ended. */
  | { type: "handoff-bound"; handoff: Handoff; fp: string; started: number; outcome: Outcome<BindResult> };

export interface HandoffWatcherReplies {
  status: HandoffStatus;
  scan: HandoffStatus;
  settle: HandoffStatus;
  release: { released: boolean };
}

export type HandoffWatcherRef = ActorRef<HandoffWatcherMsg, HandoffWatcherReplies>;
