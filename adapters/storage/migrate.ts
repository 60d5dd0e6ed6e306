// One-time import of the file stores that came before the state database: the catalog index
// (`<ORCHD_CATALOG_ROOT>/index.json`) and the artifact files (`<ORCH_ARTIFACTS_FS_ROOT>/<id>.json`,
// listed in `refs.jsonl`). Runs at start, before the actors load; a `meta` row per source marks
// it done, so a restart never imports again and never overwrites what the database holds. Only
// artifacts younger than the retention age are read (older ones would be evicted at once), so
// the import costs at most what retention keeps. The files are left in place.

import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ArtifactDocumentV2, CatalogModelV2 } from "../../contract/index.ts";
import type { SqliteStateStore } from "./sqlite-store.ts";

export const LEGACY_INDEX_FILE = "index.json";
export const LEGACY_INDEX_SCHEMA_VERSION = 1;
const REFS_FILE = "refs.jsonl";
/** Artifacts queued before waiting for their commit, so memory stays bounded. */
const ARTIFACT_BATCH = 500;

export interface LegacySources {
  /** Directory of the old catalog `index.json`. */
  catalogRoot?: string;
  /** Directory of the old artifact files. */
  artifactsRoot?: string;
}

export interface MigrationReport {
  catalog: number;
  artifacts: number;
  skipped: number;
}

interface MigrationLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export async function migrateLegacyFiles(store: SqliteStateStore, sources: LegacySources, options: { log: MigrationLog; now: number; maxAgeMs: number }): Promise<MigrationReport> {
  const report: MigrationReport = { catalog: 0, artifacts: 0, skipped: 0 };
  if (sources.catalogRoot) report.catalog = await migrateCatalog(store, resolve(sources.catalogRoot), options.log, options.now);
  if (sources.artifactsRoot) {
    const r = await migrateArtifacts(store, resolve(sources.artifactsRoot), options.now - options.maxAgeMs, options.log, options.now);
    report.artifacts = r.imported;
    report.skipped = r.skipped;
  }
  return report;
}

function done(store: SqliteStateStore, key: string): boolean {
  return store.reader.query<{ value: string }, [string]>("SELECT value FROM meta WHERE key = ?").get(key) !== null;
}

async function markDone(store: SqliteStateStore, key: string, count: number, at: number): Promise<void> {
  await store.write("catalog", { t: "meta", key, value: JSON.stringify({ count, at }) });
}

/** The catalog index into `catalog_models`. A malformed index refuses the start, naming the file. */
async function migrateCatalog(store: SqliteStateStore, root: string, log: MigrationLog, now: number): Promise<number> {
  const key = `migrated:catalog:${root}`;
  if (done(store, key)) return 0;
  const path = join(root, LEGACY_INDEX_FILE);
  let count = 0;
  if (existsSync(path)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
    }
    const doc = raw as { schema_version?: unknown; models?: unknown };
    if (typeof doc !== "object" || doc === null || doc.schema_version !== LEGACY_INDEX_SCHEMA_VERSION) {
      throw new Error(`${path}: unsupported catalog index schema_version ${JSON.stringify(doc?.schema_version)} (expected ${LEGACY_INDEX_SCHEMA_VERSION})`);
    }
    const existing = new Set((await store.catalog.load()).map((r) => r.id));
    const writes: Promise<void>[] = [];
    for (const [id, value] of Object.entries((doc.models ?? {}) as Record<string, unknown>)) {
      const parsed = CatalogModelV2.safeParse(value);
      if (!parsed.success || parsed.data.id !== id) throw new Error(`${path}: invalid entry ${JSON.stringify(id)}`);
      if (existing.has(id)) continue; // the database wins over the old file
      writes.push(store.catalog.put(id, parsed.data));
      count++;
    }
    await Promise.all(writes);
    log.info(`Imported ${count} catalog model(s) from ${path} into the state database`, { path, models: count });
  }
  await markDone(store, key, count, now);
  return count;
}

/** Artifact files listed in `refs.jsonl` and younger than `cutoff`; unreadable ones are skipped and counted. */
/**
 * One line of the old artifact index. A crash mid-append left a torn record without its newline,
 * so the next append continued on the same line: the record after the tear is recovered from the
 * line's end (the last `{` from which the rest parses as a record).
 */
function parseRefLine(line: string): { id?: unknown; created_ms?: unknown } | undefined {
  for (let at = 0; at >= 0 && at < line.length; at = line.indexOf("{", at + 1)) {
    try {
      const ref = JSON.parse(at === 0 ? line : line.slice(at));
      if (typeof ref === "object" && ref !== null && !Array.isArray(ref)) return ref;
    } catch {
      // torn before here: try the next record start
    }
  }
  return undefined;
}

async function migrateArtifacts(store: SqliteStateStore, root: string, cutoff: number, log: MigrationLog, now: number): Promise<{ imported: number; skipped: number }> {
  const key = `migrated:artifacts:${root}`;
  if (done(store, key)) return { imported: 0, skipped: 0 };
  const refsPath = join(root, REFS_FILE);
  let imported = 0;
  let skipped = 0;
  if (existsSync(refsPath)) {
    let pending: Promise<unknown>[] = [];
    for (const line of readFileSync(refsPath, "utf8").split("\n")) {
      if (!line) continue;
      const ref = parseRefLine(line);
      if (!ref) {
        skipped++; // a line torn by a crash mid-append, with nothing appended after it
        continue;
      }
      if (typeof ref.id !== "string" || !/^[0-9a-f]{64}$/.test(ref.id) || typeof ref.created_ms !== "number" || ref.created_ms < cutoff) {
        skipped++;
        continue;
      }
      const doc = readDocument(join(root, `${ref.id}.json`), ref.id);
      if (!doc) {
        skipped++;
        continue;
      }
      const transcript = doc.kind === "trace" && doc.tags.includes("stream");
      pending.push(store.artifacts.put(doc, { transcript }));
      imported++;
      if (pending.length >= ARTIFACT_BATCH) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    if (imported + skipped > 0) log.info(`Imported ${imported} artifact(s) from ${root} into the state database`, { root, artifacts: imported, skipped });
    if (skipped > 0) log.warn(`Skipped ${skipped} artifact(s) of ${root}: older than the retention age, or unreadable`, { root, skipped });
  }
  await markDone(store, key, imported, now);
  return { imported, skipped };
}

function readDocument(path: string, id: string): ArtifactDocumentV2 | undefined {
  try {
    const parsed = ArtifactDocumentV2.safeParse(JSON.parse(readFileSync(path, "utf8")));
    return parsed.success && parsed.data.id === id ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
