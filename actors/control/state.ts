// The control plane's state store: opened in the state directory (or, without one, an ephemeral
// temp directory removed at shutdown, for tests), the old file stores imported on first start,
// its doings turned into metrics and log lines, the task actors' stream hooks, the admission
// backlog check, and an orderly close (transcripts being assembled first, then the queue).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RealClock, type Clock, type Logger, type Timer } from "../../runtime/index.ts";
import { retriableError, type ErrorEnvelope } from "../../contract/index.ts";
import type { ControlMetrics } from "../../adapters/metrics/index.ts";
import { migrateLegacyFiles } from "../../adapters/storage/migrate.ts";
import { openSqliteStore, STORE_DEFAULTS, type SqliteStateStore } from "../../adapters/storage/sqlite-store.ts";
import type { StoreObserver } from "../../adapters/storage/state-store.ts";
import { createStreamHooks, type StreamStoreHooks } from "./task/stream-store.ts";

export interface StateOptions {
  /** The state directory (ORCHD_STATE_DIR); absent: an ephemeral one, removed at shutdown. */
  stateDir?: string;
  /** Old file stores to import on first start (ORCHD_CATALOG_ROOT, ORCH_ARTIFACTS_FS_ROOT). */
  legacy?: { catalogRoot?: string; artifactsRoot?: string };
  retention?: { maxAgeMs?: number; maxBytes?: number; intervalMs?: number };
  /** Write queue: high-water mark (items) above which admission refuses, flush delay, batch size. */
  queue?: { highWaterItems?: number; flushMs?: number; maxBatch?: number };
}

export interface ControlState {
  store: SqliteStateStore;
  streams: StreamStoreHooks;
  /** The refusal admission answers while the store's write queue is above its high-water mark. */
  backlog(engine: string | undefined): ErrorEnvelope | undefined;
  close(): Promise<void>;
}

export async function openControlState(options: StateOptions, deps: { log: Logger; metrics: ControlMetrics; clock: Clock }): Promise<ControlState> {
  const { log, metrics, clock } = deps;
  const ephemeral = options.stateDir === undefined ? mkdtempSync(join(tmpdir(), "llorch-state-")) : undefined;
  const dir = options.stateDir ?? ephemeral!;
  const retention = {
    maxAgeMs: options.retention?.maxAgeMs ?? STORE_DEFAULTS.maxAgeMs,
    maxBytes: options.retention?.maxBytes ?? STORE_DEFAULTS.maxBytes,
    intervalMs: options.retention?.intervalMs ?? STORE_DEFAULTS.retentionIntervalMs,
  };
  let store: SqliteStateStore;
  try {
    store = await openSqliteStore({
      dir,
      now: () => clock.now(),
      retention,
      flushMs: options.queue?.flushMs,
      maxBatch: options.queue?.maxBatch,
      highWater: { items: options.queue?.highWaterItems },
      observer: storeObserver(metrics, log),
    });
  } catch (e) {
    if (ephemeral) rmSync(ephemeral, { recursive: true, force: true });
    throw new Error(`could not open the state store in ${dir}: ${(e as Error).message}`);
  }
  try {
    await migrateLegacyFiles(store, options.legacy ?? {}, { log, now: clock.now(), maxAgeMs: retention.maxAgeMs });
  } catch (e) {
    await store.close();
    if (ephemeral) rmSync(ephemeral, { recursive: true, force: true });
    throw e;
  }
  // One control plane per store: no task that wrote a stream here is alive any more.
  const orphans = await store.streams.clear();
  if (orphans > 0) log.info(`Dropped the stored chunks of ${orphans} stream(s) of an earlier run`, { streams: orphans });
  log.info(`State store open in ${dir}`, { state_dir: dir, stored_bytes: store.storedBytes(), retention_max_age_ms: retention.maxAgeMs, retention_max_bytes: retention.maxBytes });
  if (retention.intervalMs > 0) void store.retain().catch((e) => log.warn("State store retention failed", { error: (e as Error).message }));

  const streams = createStreamHooks({ store, log, clock, onLost: () => metrics.transcriptsLost.inc() });
  let refusing = false;
  return {
    store,
    streams,
    backlog(engine) {
      if (!store.backlogged()) {
        if (refusing) log.info("State store caught up; admitting tasks again", { queued_writes: store.backlog().items });
        refusing = false;
        return undefined;
      }
      const { items, bytes } = store.backlog();
      if (!refusing) log.warn("State store is behind; refusing new tasks until it catches up", { queued_writes: items, queued_bytes: bytes });
      refusing = true;
      metrics.storeBackpressure.inc();
      metrics.tasksRejected.inc({ engine: engine ?? "", reason: "REPLICA_EXHAUSTED" });
      metrics.admissionEnqueued.inc({ pool_id: "", outcome: "rejected" });
      metrics.admissionRejected.inc({ pool_id: "", reason: "REPLICA_EXHAUSTED" });
      return retriableError("REPLICA_EXHAUSTED", `the control plane's state store is behind (${items} writes queued); retry later`, { policy_label: "store.backlog" });
    },
    async close() {
      // Transcripts of tasks ended by the shutdown are being assembled: let them reach the queue.
      // Real time: a shutdown is bounded by the wall clock, whatever clock the tasks run on.
      const wall = new RealClock();
      let timer: Timer | undefined;
      await Promise.race([streams.drain(), new Promise<void>((r) => (timer = wall.setTimeout(r, STORE_DEFAULTS.closeTimeoutMs)))]);
      timer?.cancel();
      const { unwritten } = await store.close();
      if (unwritten > 0) log.error(`Closed the state store with ${unwritten} write(s) not committed`, { unwritten });
      if (ephemeral) rmSync(ephemeral, { recursive: true, force: true });
    },
  };
}

function storeObserver(metrics: ControlMetrics, log: Logger): StoreObserver {
  return {
    committed: (kind, n) => metrics.storeWrites.inc({ kind }, n),
    failed(kinds, error, retryInMs) {
      for (const kind of kinds) metrics.storeWriteErrors.inc({ kind });
      const kept = retryInMs === undefined ? "refused the writes that may fail" : `keeping the others, retrying in ${retryInMs} ms`;
      log.error(`Could not commit to the state store: ${error}; ${kept}`, { kinds: kinds.join(","), error, retry_in_ms: retryInMs });
    },
    recovered: (failures) => log.info(`State store commits work again after ${failures} failed attempt(s)`, { failures }),
    evicted: (kind, n) => {
      metrics.storeEvicted.inc({ kind }, n);
      log.info(`Retention evicted ${n} ${kind} row(s) from the state store`, { kind, evicted: n });
    },
    queue: (items, bytes) => {
      metrics.storeQueueDepth.set(items);
      metrics.storeQueueBytes.set(bytes);
    },
    bytes: (stored) => metrics.storeBytes.set(stored),
  };
}
