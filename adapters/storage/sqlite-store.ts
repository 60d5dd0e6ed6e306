// The StateStore on an embedded SQLite database (`<state dir>/state.db`, WAL, synchronous=FULL).
// Writes go through the batching WriteQueue to a writer thread (sqlite-worker.ts) that commits
// each batch in one transaction; reads run here on a second connection, which in WAL mode sees
// every committed transaction and never waits for the writer. Retention runs periodically on the
// writer thread, in bounded passes, oldest rows first.

import type { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ArtifactDocumentV2, ArtifactRefV2 } from "../../contract/index.ts";
import { DB_FILE, openDatabase, type Op, type OpResult, type RecordTable, type RetainRequest, type RetainResult } from "./sqlite-ops.ts";
import type { WriterReply, WriterRequest } from "./sqlite-worker.ts";
import {
  EVICTABLE_KINDS,
  StoreClosedError,
  StoreCorruptError,
  type ArtifactStore,
  type EvictionReport,
  type KeyedRecord,
  type RecordStore,
  type StateStore,
  type StoreObserver,
  type StreamChunk,
  type StreamStore,
} from "./state-store.ts";
import { WriteQueue } from "./write-queue.ts";
import { RealClock, type Clock, type Timer } from "../../runtime/index.ts";

export interface RetentionPolicy {
  /** Artifacts, transcripts and stream chunks older than this are evicted. */
  maxAgeMs: number;
  /** Above this many stored bytes, the oldest artifacts and transcripts are evicted. */
  maxBytes: number;
  /** Cadence of retention passes (0 = only when `retain()` is called). */
  intervalMs: number;
  /** Rows per transaction of a pass. */
  batch?: number;
}

export interface SqliteStoreOptions {
  /** The state directory; created when missing. */
  dir: string;
  /** Clock of stream chunks' ages and of retention (default: `clock`'s). */
  now?: () => number;
  /** Times batching, retries and retention passes: real time unless a test injects one. */
  clock?: Clock;
  flushMs?: number;
  maxBatch?: number;
  highWater?: { items?: number; bytes?: number };
  retention?: RetentionPolicy;
  observer?: StoreObserver;
}

export const STORE_DEFAULTS = {
  flushMs: 5,
  // One commit (one fsync) per batch: 512 capped 1-token tasks at ~3,600/s on 2 cores, 4096 at ~5,700/s.
  maxBatch: 4096,
  highWaterItems: 10_000,
  highWaterBytes: 256 * 1024 * 1024,
  maxAgeMs: 7 * 24 * 3600 * 1000,
  maxBytes: 10 * 1024 ** 3,
  retentionIntervalMs: 60_000,
  retentionBatch: 1000,
  closeTimeoutMs: 10_000,
};

/** Opens the store in `options.dir`, creating the database on first use. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStateStore> {
  mkdirSync(options.dir, { recursive: true });
  const path = join(options.dir, DB_FILE);
  const writer = new WriterThread();
  try {
    await writer.call({ type: "open", path });
  } catch (e) {
    writer.terminate();
    throw e;
  }
  return new SqliteStateStore(path, writer, options);
}

/** The writer thread and its request/reply matching. */
class WriterThread {
  private readonly worker = new Worker(new URL("./sqlite-worker.ts", import.meta.url).href);
  private readonly pending = new Map<number, { resolve(r: { value: unknown; bytes: number }): void; reject(e: Error): void }>();
  private seq = 0;
  private dead: Error | undefined;

  constructor() {
    this.worker.onmessage = (e: MessageEvent<WriterReply>) => {
      const reply = e.data;
      const p = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.ok) p?.resolve({ value: reply.value, bytes: reply.bytes });
      else p?.reject(new Error(reply.error));
    };
    this.worker.onerror = (e) => {
      this.dead = new Error(`the state store's writer thread failed: ${e.message}`);
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    this.worker.unref();
  }

  call(request: DistributiveOmit<WriterRequest, "id">): Promise<{ value: unknown; bytes: number }> {
    if (this.dead) return Promise.reject(this.dead);
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  terminate(): void {
    this.worker.terminate();
  }
}

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;

export class SqliteStateStore implements StateStore {
  readonly artifacts: ArtifactStore;
  readonly streams: StreamStore;
  readonly catalog: RecordStore;
  readonly sessions: RecordStore;
  private readonly read: Database;
  private readonly queue: WriteQueue;
  private readonly now: () => number;
  private bytes: number;
  private retention: RetentionPolicy;
  private retentionTimer: Timer | undefined;
  private readonly clock: Clock;
  private retaining: Promise<EvictionReport> | undefined;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly writer: WriterThread,
    private readonly options: SqliteStoreOptions,
  ) {
    this.clock = options.clock ?? new RealClock();
    const now = options.now ?? (() => this.clock.now());
    this.now = () => Math.round(now());
    this.read = openDatabase(path, true);
    this.bytes = Number(this.read.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'stored_bytes'").get()?.value ?? 0);
    options.observer?.bytes?.(this.bytes);
    this.queue = new WriteQueue({
      commit: async (ops) => {
        const { value, bytes } = await this.writer.call({ type: "batch", ops });
        this.setBytes(bytes);
        return value as OpResult[];
      },
      flushMs: options.flushMs ?? STORE_DEFAULTS.flushMs,
      maxBatch: options.maxBatch ?? STORE_DEFAULTS.maxBatch,
      highWater: { items: options.highWater?.items ?? STORE_DEFAULTS.highWaterItems, bytes: options.highWater?.bytes ?? STORE_DEFAULTS.highWaterBytes },
      observer: options.observer,
      clock: this.clock,
    });
    this.retention = options.retention ?? { maxAgeMs: STORE_DEFAULTS.maxAgeMs, maxBytes: STORE_DEFAULTS.maxBytes, intervalMs: STORE_DEFAULTS.retentionIntervalMs };
    if (this.retention.intervalMs > 0) this.scheduleRetention(this.retention.intervalMs);
    this.artifacts = this.artifactStore();
    this.streams = this.streamStore();
    this.catalog = this.recordStore("catalog_models", "catalog");
    this.sessions = this.recordStore("sessions", "session");
  }

  backlog() {
    return this.queue.depth();
  }

  backlogged(): boolean {
    return this.queue.backlogged();
  }

  storedBytes(): number {
    return this.bytes;
  }

  flush(): Promise<void> {
    return this.queue.flush();
  }

  /** A full pass; concurrent callers share the running one. */
  retain(): Promise<EvictionReport> {
    if (this.closed) return Promise.reject(new StoreClosedError());
    this.retaining ??= this.retainPass().finally(() => (this.retaining = undefined));
    return this.retaining;
  }

  /** Stops retention, commits what is queued (at most `timeoutMs`), closes; answers how many writes were left unwritten. */
  async close(timeoutMs = STORE_DEFAULTS.closeTimeoutMs): Promise<{ unwritten: number }> {
    if (this.closed) return { unwritten: 0 };
    this.closed = true;
    this.retentionTimer?.cancel();
    await this.retaining?.catch(() => {});
    const unwritten = await this.queue.close(timeoutMs);
    await this.writer.call({ type: "close" }).catch(() => {});
    this.writer.terminate();
    this.read.close();
    return { unwritten };
  }

  /** Test and migration hook: the reading connection. */
  get reader(): Database {
    return this.read;
  }

  /** Queues a raw write (the migration's bulk inserts). */
  write(kind: Parameters<WriteQueue["push"]>[0], op: Op, retry = false): Promise<OpResult> {
    return this.queue.push(kind, op, { bytes: opBytes(op), retry });
  }

  private setBytes(bytes: number): void {
    if (bytes === this.bytes) return;
    this.bytes = bytes;
    this.options.observer?.bytes?.(bytes);
  }

  private async retainPass(): Promise<EvictionReport> {
    const report: EvictionReport = { evicted: { artifact: 0, transcript: 0, stream: 0 }, bytes: 0 };
    const request: RetainRequest = {
      now: this.now(),
      maxAgeMs: this.retention.maxAgeMs,
      maxBytes: this.retention.maxBytes,
      batch: this.retention.batch ?? STORE_DEFAULTS.retentionBatch,
    };
    for (;;) {
      const { value, bytes } = await this.writer.call({ type: "retain", request });
      const r = value as RetainResult;
      this.setBytes(bytes);
      for (const kind of EVICTABLE_KINDS) {
        report.evicted[kind] += r.evicted[kind];
        if (r.evicted[kind] > 0) this.options.observer?.evicted?.(kind, r.evicted[kind]);
      }
      report.bytes += r.freed;
      if (!r.more || this.closed) return report;
    }
  }

  /** A retention pass every `intervalMs`, the next timed once this one is done; none after close. */
  private scheduleRetention(intervalMs: number): void {
    this.retentionTimer = this.clock.setTimeout(() => {
      void this.retain()
        .catch(() => {})
        .finally(() => {
          if (!this.closed) this.scheduleRetention(intervalMs);
        });
    }, intervalMs);
  }

  private artifactStore(): ArtifactStore {
    const get = this.read.prepare<{ doc: string }, [string]>("SELECT doc FROM artifacts WHERE id = ?");
    return {
      put: async (doc, options = {}) => {
        const op: Op = {
          t: "artifact",
          id: String(doc.id),
          kind: String(doc.kind),
          transcript: options.transcript === true,
          created_ms: integer(doc.created_ms),
          tags: doc.tags.map(String),
          doc: JSON.stringify(doc),
        };
        const result = await this.queue.push(options.transcript ? "transcript" : "artifact", op, { bytes: op.doc.length, retry: options.retry });
        return { id: doc.id, kind: doc.kind, digest: doc.digest, created_ms: result?.created_ms ?? doc.created_ms, tags: doc.tags };
      },
      get: async (id) => {
        const row = get.get(id);
        if (!row) return undefined;
        try {
          return JSON.parse(row.doc) as ArtifactDocumentV2;
        } catch (e) {
          throw new StoreCorruptError(`artifact ${id} is unreadable: ${(e as Error).message}`);
        }
      },
      list: async ({ tags, kind, limit }) => {
        type Row = { id: string; kind: string; created_ms: number; tags: string };
        if (limit <= 0) return [];
        // Filters and the limit in SQL: `.all()` ends its read at once (an open iterator would pin a snapshot).
        const [first, ...rest] = [...new Set(tags)];
        const where: string[] = [];
        const params: (string | number)[] = [];
        if (first !== undefined) params.push(first);
        if (kind) {
          where.push("a.kind = ?");
          params.push(kind);
        }
        for (const tag of rest) {
          where.push("a.id IN (SELECT id FROM artifact_tags WHERE tag = ?)");
          params.push(tag);
        }
        params.push(limit);
        const filter = where.length > 0 ? ` AND ${where.join(" AND ")}` : "";
        const sql =
          first !== undefined
            ? `SELECT a.id, a.kind, a.created_ms, a.tags FROM artifact_tags t JOIN artifacts a ON a.id = t.id WHERE t.tag = ?${filter} ORDER BY t.created_ms DESC, a.id LIMIT ?`
            : `SELECT a.id, a.kind, a.created_ms, a.tags FROM artifacts a WHERE 1${filter} ORDER BY a.created_ms DESC, a.id LIMIT ?`;
        return this.read
          .query<Row, (string | number)[]>(sql)
          .all(...params)
          .map((row) => ({ id: row.id, kind: row.kind as ArtifactRefV2["kind"], digest: `sha256:${row.id}`, created_ms: row.created_ms, tags: JSON.parse(row.tags) as string[] }));
      },
    };
  }

  private streamStore(): StreamStore {
    const read = this.read.prepare<{ seq: number; count: number; entries: string }, [string, number, number]>(
      "SELECT seq, count, entries FROM stream_chunks WHERE task_id = ? AND seq < ? AND seq + count > ? ORDER BY seq",
    );
    return {
      append: async (task_id, chunk, options = {}) => {
        const op: Op = { t: "chunk", task_id: String(task_id), seq: integer(chunk.seq), count: integer(chunk.count), created_ms: this.now(), entries: JSON.stringify(chunk.entries) };
        await this.queue.push("stream", op, { bytes: op.entries.length, retry: options.retry });
      },
      read: async (task_id, from = 0, to = Number.MAX_SAFE_INTEGER) =>
        read.all(task_id, to, from).map((r): StreamChunk => ({ seq: r.seq, count: r.count, entries: JSON.parse(r.entries) as unknown[] })),
      clear: async () => {
        const cleared = this.queue.push("stream", { t: "clear-streams" }, { bytes: 0 });
        await this.queue.flush(); // start-up: no reason to wait for company
        return (await cleared)?.count ?? 0;
      },
      discard: async (task_id) => {
        await this.queue.push("stream", { t: "discard", task_id: String(task_id) }, { bytes: 0, retry: true });
      },
    };
  }

  private recordStore(table: RecordTable, kind: "catalog" | "session"): RecordStore {
    return {
      load: async () =>
        this.read
          .query<{ id: string; doc: string; expires_ms: number | null }, []>(`SELECT id, doc, ${table === "sessions" ? "expires_ms" : "NULL AS expires_ms"} FROM ${table} ORDER BY id`)
          .all()
          .map((r): KeyedRecord => ({ id: r.id, value: JSON.parse(r.doc), ...(r.expires_ms !== null ? { expires_ms: r.expires_ms } : {}) })),
      put: async (id, value, options = {}) => {
        const expires_ms = options.expires_ms === undefined ? undefined : integer(options.expires_ms);
        const op: Op = { t: "record", table, id: String(id), doc: JSON.stringify(value), expires_ms, updated_ms: this.now() };
        await this.queue.push(kind, op, { bytes: op.doc!.length, retry: options.retry, key: options.coalesce ? `${table}:${id}` : undefined });
      },
      delete: async (id, options = {}) => {
        await this.queue.push(kind, { t: "record", table, id: String(id), doc: null, updated_ms: this.now() }, { bytes: 0, retry: options.retry, key: options.coalesce ? `${table}:${id}` : undefined });
      },
    };
  }
}

/** Ops cross to the writer thread: only plain numbers and strings, checked here rather than failing a whole batch there. */
function integer(value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw new TypeError(`expected an integer, got ${String(value)}`);
  return value;
}

function opBytes(op: Op): number {
  switch (op.t) {
    case "artifact":
      return op.doc.length;
    case "chunk":
      return op.entries.length;
    case "record":
      return op.doc?.length ?? 0;
    default:
      return 0;
  }
}
