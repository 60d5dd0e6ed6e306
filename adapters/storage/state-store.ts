// The control plane's durable state behind one small interface: artifacts (task transcripts
// included), the chunks of streams in progress, catalog entries and sessions. The SQLite
// implementation (sqlite-store.ts) is the only one today; a distributed backend for several
// control planes would implement the same methods. Every write resolves only once it is durable
// (committed), every method is async so a remote backend fits, and values are plain JSON.

import type { ArtifactDocumentV2, ArtifactRefV2 } from "../../contract/index.ts";

/** What a write is about; the `kind` label of the store's metrics. */
export type StoreKind = "artifact" | "transcript" | "stream" | "catalog" | "session";
export const STORE_KINDS: readonly StoreKind[] = ["artifact", "transcript", "stream", "catalog", "session"];
/** What retention evicts (oldest first). */
export const EVICTABLE_KINDS = ["artifact", "transcript", "stream"] as const;
export type EvictableKind = (typeof EVICTABLE_KINDS)[number];

export interface WriteOptions {
  /**
   * true: a failed commit (disk full, I/O error) keeps the write queued and retries it with
   * backoff until it commits; the promise waits. false (default): the promise rejects at the
   * first failed commit, and the caller answers its client with an error.
   */
  retry?: boolean;
}

/** Consecutive events of one stream: `count` events from sequence number `seq`, as JSON entries. */
export interface StreamChunk {
  seq: number;
  count: number;
  /** The events, tokens folded (what a transcript holds); opaque to the store. */
  entries: unknown[];
}

export interface KeyedRecord {
  id: string;
  value: unknown;
  /** Absolute expiry (ms since the epoch), when the record has one. */
  expires_ms?: number;
}

export interface ArtifactStore {
  /** Stores `doc` unless its id is stored already; answers the stored ref (the first created_ms). */
  put(doc: ArtifactDocumentV2, options?: WriteOptions & { transcript?: boolean }): Promise<ArtifactRefV2>;
  /** Undefined when unknown; throws StoreCorruptError when the stored row is unreadable. */
  get(id: string): Promise<ArtifactDocumentV2 | undefined>;
  /** Refs carrying every tag (and of `kind`), newest first. */
  list(query: { tags: string[]; kind?: string; limit: number }): Promise<ArtifactRefV2[]>;
}

export interface StreamStore {
  /** Appends a chunk of `task_id`'s stream; chunks of one stream commit in the order appended. */
  append(task_id: string, chunk: StreamChunk, options?: WriteOptions): Promise<void>;
  /** Committed chunks that hold events in [from, to), in order. */
  read(task_id: string, from?: number, to?: number): Promise<StreamChunk[]>;
  /** Forgets a stream's chunks (its task is gone; the transcript keeps the events). */
  discard(task_id: string): Promise<void>;
  /** Forgets every stored stream: at start, when no task that wrote here is alive. Answers how many streams. */
  clear(): Promise<number>;
}

export interface RecordStore {
  load(): Promise<KeyedRecord[]>;
  put(id: string, value: unknown, options?: WriteOptions & { expires_ms?: number; coalesce?: boolean }): Promise<void>;
  delete(id: string, options?: WriteOptions & { coalesce?: boolean }): Promise<void>;
}

export interface EvictionReport {
  evicted: Record<EvictableKind, number>;
  bytes: number;
}

export interface StateStore {
  readonly artifacts: ArtifactStore;
  readonly streams: StreamStore;
  readonly catalog: RecordStore;
  readonly sessions: RecordStore;
  /** Writes queued and not yet committed, and their bytes. */
  backlog(): { items: number; bytes: number };
  /** True while the backlog is above its high-water mark: admission should refuse new work. */
  backlogged(): boolean;
  /** Bytes of the stored artifacts, transcripts and stream chunks (what retention bounds). */
  storedBytes(): number;
  /** Resolves once every write queued before the call has committed. */
  flush(): Promise<void>;
  /** One full retention pass: evicts by age, then oldest first until under the size bound. */
  retain(): Promise<EvictionReport>;
  /** Commits what is queued (for a while), then closes; later writes reject. Answers how many writes were left unwritten. */
  close(): Promise<{ unwritten: number }>;
}

/** Told about what the store does; the control plane turns it into metrics and log lines. */
export interface StoreObserver {
  committed?(kind: StoreKind, count: number): void;
  failed?(kinds: StoreKind[], error: string, retryInMs: number | undefined): void;
  recovered?(afterFailures: number): void;
  evicted?(kind: EvictableKind, count: number): void;
  queue?(items: number, bytes: number): void;
  bytes?(stored: number): void;
}

export class StoreCorruptError extends Error {
  readonly code = "STORE_CORRUPT" as const;
}

export class StoreClosedError extends Error {
  readonly code = "STORE_CLOSED" as const;
  constructor() {
    super("the state store is closed");
  }
}
