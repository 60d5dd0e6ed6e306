// The SQLite state database: its schema, and the writes and retention passes the writer applies
// (sqlite-worker.ts runs them off the main thread, so a commit's fsync never blocks the event
// loop). Every batch of writes is one transaction; `meta.stored_bytes` is kept in the same
// transactions, so the size retention bounds is always the committed truth.

import { Database } from "bun:sqlite";

export const SCHEMA_VERSION = 1;
export const DB_FILE = "state.db";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS artifacts (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  transcript INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  tags TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_by_age ON artifacts (created_ms);
-- Keyed by (tag, created_ms, id): a listing by tag reads newest first straight from the key, and
-- new rows land at the end of their tag's range. Keyed by (tag, id) with an index by id, every
-- insert went to a random page of two trees, and a batch's commit wrote about one page per tag
-- row once the tables outgrew the cache (4,096 transcripts per commit: 25k/s on an empty store,
-- 12k/s after 60k; now 50k/s and 27k/s: the task:<id> tags and the artifact ids are still random).
CREATE TABLE IF NOT EXISTS artifact_tags (
  tag TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (tag, created_ms, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream_chunks (
  task_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  count INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  entries TEXT NOT NULL,
  PRIMARY KEY (task_id, seq)
);
CREATE INDEX IF NOT EXISTS stream_chunks_by_age ON stream_chunks (created_ms);
CREATE TABLE IF NOT EXISTS catalog_models (id TEXT PRIMARY KEY, updated_ms INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, expires_ms INTEGER, updated_ms INTEGER NOT NULL, doc TEXT NOT NULL);
`;

export type RecordTable = "catalog_models" | "sessions";

/** One write, as plain data (it crosses to the writer thread). */
export type Op =
  | { t: "artifact"; id: string; kind: string; transcript: boolean; created_ms: number; tags: string[]; doc: string }
  | { t: "chunk"; task_id: string; seq: number; count: number; created_ms: number; entries: string }
  | { t: "discard"; task_id: string }
  | { t: "clear-streams" }
  /** `doc` null deletes the record. */
  | { t: "record"; table: RecordTable; id: string; doc: string | null; expires_ms?: number; updated_ms: number }
  | { t: "meta"; key: string; value: string };

/** `error`: this write was refused for what it holds (a constraint, a value too big); the others committed. */
export type OpResult = { created_ms?: number; stored?: boolean; count?: number; error?: string } | null;

/** An artifact row retention drops, with what finds its tag rows. */
type Dropped = { id: string; transcript: number; bytes: number; created_ms: number; tags: string };

/** The tags column (a JSON array); a damaged one yields none rather than stopping retention. */
function tagsOf(text: string): string[] {
  try {
    const tags: unknown = JSON.parse(text);
    return Array.isArray(tags) ? [...new Set(tags.map(String))] : [];
  } catch {
    return [];
  }
}

/** SQLite errors about one write's content, not about the disk: they refuse that write only. */
const DATA_ERROR = /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/;

export interface RetainRequest {
  now: number;
  maxAgeMs: number;
  maxBytes: number;
  /** Rows deleted per call at most, so one call never holds the writer long. */
  batch: number;
}

export interface RetainResult {
  evicted: { artifact: number; transcript: number; stream: number };
  freed: number;
  /** More is due: call again. */
  more: boolean;
}

/** Opens (creating when missing) the database with the pragmas every connection needs. */
export function openDatabase(path: string, readonly = false): Database {
  const db = readonly ? new Database(path, { readonly: true }) : new Database(path, { create: true, readwrite: true });
  db.exec("PRAGMA busy_timeout = 5000");
  if (!readonly) {
    // Must precede the first table: lets retention give freed pages back to the file system.
    db.exec("PRAGMA auto_vacuum = INCREMENTAL");
    db.exec("PRAGMA journal_mode = WAL");
    // FULL: each commit fsyncs the WAL, so an acknowledged write survives power loss, not only a
    // killed process. Batching pays one fsync per batch, on the writer thread.
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA foreign_keys = OFF");
    db.transaction(() => {
      db.exec(SCHEMA);
      const version = db.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'schema_version'").get();
      if (version && Number(version.value) !== SCHEMA_VERSION) {
        throw new Error(`${path}: state schema version ${version.value} is not ${SCHEMA_VERSION}; refusing to open`);
      }
      if (!version) db.run("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", [String(SCHEMA_VERSION)]);
      const bytes = db.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'stored_bytes'").get();
      if (!bytes) {
        const total = db.query<{ n: number }, []>("SELECT (SELECT IFNULL(SUM(bytes), 0) FROM artifacts) + (SELECT IFNULL(SUM(bytes), 0) FROM stream_chunks) AS n").get()!.n;
        db.run("INSERT INTO meta (key, value) VALUES ('stored_bytes', ?)", [String(total)]);
      }
    })();
  }
  return db;
}

export function storedBytes(db: Database): number {
  return Number(db.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'stored_bytes'").get()?.value ?? 0);
}

/** Applies writes and retention to one writable connection. */
export class Writer {
  private readonly q;

  constructor(private readonly db: Database) {
    this.q = {
      artifactGet: db.prepare<{ created_ms: number }, [string]>("SELECT created_ms FROM artifacts WHERE id = ?"),
      artifactInsert: db.prepare("INSERT INTO artifacts (id, kind, transcript, created_ms, tags, bytes, doc) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      tagInsert: db.prepare("INSERT OR IGNORE INTO artifact_tags (tag, created_ms, id) VALUES (?, ?, ?)"),
      tagDelete: db.prepare("DELETE FROM artifact_tags WHERE tag = ? AND created_ms = ? AND id = ?"),
      chunkInsert: db.prepare("INSERT OR IGNORE INTO stream_chunks (task_id, seq, count, created_ms, bytes, entries) VALUES (?, ?, ?, ?, ?, ?)"),
      chunkBytes: db.prepare<{ n: number }, [string]>("SELECT IFNULL(SUM(bytes), 0) AS n FROM stream_chunks WHERE task_id = ?"),
      chunkDelete: db.prepare("DELETE FROM stream_chunks WHERE task_id = ?"),
      meta: db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
      addBytes: db.prepare("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'stored_bytes'"),
    };
  }

  /**
   * All ops in one transaction. An op refused for its content is rolled back alone (a savepoint
   * each) and answered `{error}`; any other failure (disk full, I/O) throws and commits nothing.
   */
  apply(ops: Op[]): OpResult[] {
    return this.db.transaction(() =>
      ops.map((op) => {
        this.db.exec("SAVEPOINT op");
        try {
          const result = this.one(op);
          this.db.exec("RELEASE op");
          return result;
        } catch (e) {
          this.db.exec("ROLLBACK TO op");
          this.db.exec("RELEASE op");
          const code = String((e as { code?: unknown }).code ?? "");
          if (code.startsWith("SQLITE_") && !DATA_ERROR.test(code)) throw e;
          return { error: e instanceof Error ? e.message : String(e) };
        }
      }),
    )();
  }

  private one(op: Op): OpResult {
    const q = this.q;
    switch (op.t) {
      case "artifact": {
        const existing = q.artifactGet.get(op.id);
        if (existing) return { created_ms: existing.created_ms, stored: false };
        const bytes = Buffer.byteLength(op.doc);
        q.artifactInsert.run(op.id, op.kind, op.transcript ? 1 : 0, op.created_ms, JSON.stringify(op.tags), bytes, op.doc);
        for (const tag of new Set(op.tags)) q.tagInsert.run(tag, op.created_ms, op.id);
        q.addBytes.run(bytes);
        return { created_ms: op.created_ms, stored: true };
      }
      case "chunk": {
        const bytes = Buffer.byteLength(op.entries);
        // A retried chunk that did commit before is not stored twice.
        const r = q.chunkInsert.run(op.task_id, op.seq, op.count, op.created_ms, bytes, op.entries);
        if (r.changes > 0) q.addBytes.run(bytes);
        return { stored: r.changes > 0 };
      }
      case "discard": {
        const freed = q.chunkBytes.get(op.task_id)!.n;
        q.chunkDelete.run(op.task_id);
        if (freed > 0) q.addBytes.run(-freed);
        return null;
      }
      case "clear-streams": {
        const { n, bytes } = this.db.query<{ n: number; bytes: number }, []>("SELECT COUNT(DISTINCT task_id) AS n, IFNULL(SUM(bytes), 0) AS bytes FROM stream_chunks").get()!;
        this.db.run("DELETE FROM stream_chunks");
        if (bytes > 0) q.addBytes.run(-bytes);
        return { count: n };
      }
      case "record":
        if (op.doc === null) this.db.run(`DELETE FROM ${op.table} WHERE id = ?`, [op.id]);
        else if (op.table === "sessions") {
          this.db.run("INSERT OR REPLACE INTO sessions (id, expires_ms, updated_ms, doc) VALUES (?, ?, ?, ?)", [op.id, op.expires_ms ?? null, op.updated_ms, op.doc]);
        } else {
          this.db.run("INSERT OR REPLACE INTO catalog_models (id, updated_ms, doc) VALUES (?, ?, ?)", [op.id, op.updated_ms, op.doc]);
        }
        return null;
      case "meta":
        q.meta.run(op.key, op.value);
        return null;
    }
  }

  /** Evicts at most `batch` rows: first what is older than the age bound, then the oldest artifacts over the size bound. */
  retain(r: RetainRequest): RetainResult {
    const result: RetainResult = { evicted: { artifact: 0, transcript: 0, stream: 0 }, freed: 0, more: false };
    this.db.transaction(() => {
      const cutoff = r.now - r.maxAgeMs;
      const old = this.db
        .query<Dropped, [number, number]>("SELECT id, transcript, bytes, created_ms, tags FROM artifacts WHERE created_ms < ? ORDER BY created_ms LIMIT ?")
        .all(cutoff, r.batch);
      this.dropArtifacts(old, result);
      let left = r.batch - old.length;
      if (left > 0) {
        // Chunks belong to live streams; only age evicts them (what a stream left that nothing discarded).
        const chunks = this.db
          .query<{ rowid: number; bytes: number }, [number, number]>("SELECT rowid, bytes FROM stream_chunks WHERE created_ms < ? ORDER BY created_ms LIMIT ?")
          .all(cutoff, left);
        for (const c of chunks) this.db.run("DELETE FROM stream_chunks WHERE rowid = ?", [c.rowid]);
        result.evicted.stream += chunks.length;
        result.freed += chunks.reduce((n, c) => n + c.bytes, 0);
        left -= chunks.length;
      }
      result.more = left <= 0;
      if (!result.more) {
        let over = storedBytes(this.db) - result.freed - r.maxBytes;
        if (over > 0) {
          const oldest = this.db.query<Dropped, [number]>("SELECT id, transcript, bytes, created_ms, tags FROM artifacts ORDER BY created_ms LIMIT ?").all(left);
          const drop = [];
          for (const a of oldest) {
            if (over <= 0) break;
            drop.push(a);
            over -= a.bytes;
          }
          this.dropArtifacts(drop, result);
          result.more = over > 0 && drop.length === oldest.length && drop.length > 0;
        }
      }
      if (result.freed > 0) this.q.addBytes.run(-result.freed);
    })();
    // Give the freed pages back to the file system (auto_vacuum = INCREMENTAL), outside the transaction.
    if (result.freed > 0 && !result.more) this.db.exec("PRAGMA incremental_vacuum");
    return result;
  }

  private dropArtifacts(rows: Dropped[], result: RetainResult): void {
    for (const a of rows) {
      this.db.run("DELETE FROM artifacts WHERE id = ?", [a.id]);
      for (const tag of tagsOf(a.tags)) this.q.tagDelete.run(tag, a.created_ms, a.id);
      if (a.transcript) result.evicted.transcript++;
      else result.evicted.artifact++;
      result.freed += a.bytes;
    }
  }
}
