// handoff-watcher: binds engines that something else started (docs/contract.md#nodes). Every
// interval it lists the handoff directory (default `.runtime/engines`), reads each `*.json` it
// has not seen in this form (inode, mtime, size), and hands valid ones to `bind`, the node's way
// of making a pool over an external engine. Each `pool:replica` binds once; a bound file is
// deleted when autoDelete is on. A bad file is reported once, and again only when it changes.
// Listing, reading, binding and deleting run aside, so the watcher answers `status` throughout.

import { open, readdir, stat, unlink } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join } from "node:path";
import type { ActorFactory, ChildSpec, Logger, ReplyHandle, Timer } from "../../../runtime/index.ts";
import type { NodeMetrics } from "../../../adapters/metrics/index.ts";
import { DEFAULT_HANDOFF_INTERVAL_MS, MAX_HANDOFF_BYTES, parseHandoff, type Handoff } from "./parse.ts";
import type {
  BindResult,
  BoundHandoff,
  HandoffBind,
  HandoffFileError,
  HandoffOutcome,
  HandoffStatus,
  HandoffWatcherMsg,
  ListedFile,
  ReadResult,
} from "./protocol.ts";

export const HANDOFF_WATCHER_ID = "handoff";

export interface HandoffWatcherOptions {
  /** The handoff directory; a missing one is simply empty. */
  dir: string;
  nodeId: string;
  /** POOL_MANAGERD_WATCH_INTERVAL_MS: pause between the end of one scan and the next (1000). */
  intervalMs?: number;
  /** POOL_MANAGERD_AUTO_DELETE_HANDOFF: delete a file once it is bound (true). */
  autoDelete?: boolean;
  bind: HandoffBind;
  log: Logger;
  metrics?: NodeMetrics;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const errorCode = (e: unknown) => (e as { code?: unknown })?.code;
// The inode catches an atomic rename over the old file even when mtime and size look the same.
const fingerprint = (s: Stats) => `${s.ino}:${s.mtimeMs}:${s.size}`;

/** `*.json` files of `dir` with their fingerprints; dot files are writers' temporaries. */
async function listHandoffs(dir: string): Promise<ListedFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return [];
    throw error;
  }
  const files: ListedFile[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith(".json") || name.startsWith(".")) continue;
    try {
      const s = await stat(join(dir, name));
      if (s.isFile()) files.push({ name, fp: fingerprint(s) });
    } catch (error) {
      if (errorCode(error) !== "ENOENT") throw error;
    }
  }
  return files;
}

/** Reads one file; the fingerprint comes from the same open file, so it matches the text. */
async function readHandoffFile(path: string, listedFp: string): Promise<ReadResult> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return { kind: "gone" };
    return { kind: "unreadable", fp: listedFp, reason: errorText(error) };
  }
  try {
    const s = await fh.stat();
    const fp = fingerprint(s);
    if (s.size > MAX_HANDOFF_BYTES) return { kind: "unreadable", fp, reason: `larger than ${MAX_HANDOFF_BYTES} bytes, not a handoff file` };
    return { kind: "read", fp, text: await fh.readFile("utf8") };
  } catch (error) {
    return { kind: "unreadable", fp: listedFp, reason: errorText(error) };
  } finally {
    await fh.close();
  }
}

async function bindAndDelete(bind: HandoffBind, h: Handoff, path: string, autoDelete: boolean): Promise<BindResult> {
  let result: Awaited<ReturnType<HandoffBind>>;
  try {
    result = await bind(h);
  } catch (error) {
    return { ok: false, reason: errorText(error) };
  }
  if (!result.ok || !autoDelete) return result;
  try {
    await unlink(path);
  } catch (error) {
    if (errorCode(error) !== "ENOENT") return { ok: true, deleteError: errorText(error) };
  }
  return { ok: true };
}

export function handoffWatcher(options: HandoffWatcherOptions): ActorFactory<HandoffWatcherMsg> {
  return (ctx) => {
    const { dir, metrics, nodeId } = options;
    const log = options.log.child({ actor: "handoff-watcher" });
    const intervalMs = options.intervalMs ?? DEFAULT_HANDOFF_INTERVAL_MS;
    const autoDelete = options.autoDelete ?? true;
    const bound = new Map<string, BoundHandoff>();
    /** File name → fingerprint of the version already processed (whatever the outcome). */
    const seen = new Map<string, string>();
    const errors = new Map<string, HandoffFileError>();
    let listError: string | undefined;
    let scanning = false;
    let scans = 0;
    let queue: ListedFile[] = [];
    let timer: Timer | undefined;
    let answerNow: ReplyHandle<HandoffStatus>[] = [];
    let answerNext: ReplyHandle<HandoffStatus>[] = [];
    let settleWaiters: ReplyHandle<HandoffStatus>[] = [];

    const status = (): HandoffStatus => ({
      dir,
      interval_ms: intervalMs,
      auto_delete: autoDelete,
      scanning,
      scans,
      bound: [...bound.values()].sort((a, b) => a.key.localeCompare(b.key)),
      errors: [...errors.values()].sort((a, b) => a.file.localeCompare(b.file)),
      ...(listError !== undefined ? { list_error: listError } : {}),
    });

    const startScan = () => {
      scanning = true;
      timer?.cancel();
      timer = undefined;
      ctx.pipeToSelf(listHandoffs(dir), (outcome) => ({ type: "handoff-listed", outcome }));
    };

    const endScan = () => {
      scans++;
      const done = answerNow;
      answerNow = answerNext;
      answerNext = [];
      // Scans asked for during this one get a fresh scan of their own.
      scanning = answerNow.length > 0;
      for (const r of done) r.resolve(status());
      if (scanning) return startScan();
      for (const r of settleWaiters) r.resolve(status());
      settleWaiters = [];
      // Paced from the end of a scan, so a slow bind never stacks scans up.
      timer = ctx.after(intervalMs, { type: "handoff-tick" });
    };

    const next = () => {
      const f = queue.shift();
      if (!f) return endScan();
      const started = ctx.clock.now();
      ctx.pipeToSelf(readHandoffFile(join(dir, f.name), f.fp), (outcome) => ({ type: "handoff-read", name: f.name, started, outcome }));
    };

    const count = (poolId: string, outcome: HandoffOutcome, started: number) => {
      // A file too broken to name its pool is counted under pool_id="" (no pool).
      metrics?.handoffFiles.inc({ node_id: nodeId, pool_id: poolId, outcome });
      metrics?.handoffDuration.observe({ node_id: nodeId, pool_id: poolId }, ctx.clock.now() - started);
    };

    const refuse = (file: string, fp: string, outcome: HandoffFileError["outcome"], reason: string, poolId: string, started: number) => {
      seen.set(file, fp);
      errors.set(file, { file, outcome, reason, at_ms: ctx.clock.now() });
      count(poolId, outcome, started);
      const fields = { file, outcome, reason, ...(poolId ? { pool_id: poolId } : {}) };
      if (outcome === "bind_failed") log.error(`Could not bind handoff ${file}: ${reason}`, fields);
      else log.warn(`Ignored handoff ${file}: ${reason}`, fields);
      next();
    };

    const onRead = (name: string, started: number, r: ReadResult) => {
      if (r.kind === "gone") {
        seen.delete(name);
        errors.delete(name);
        return next();
      }
      if (r.kind === "unreadable") return refuse(name, r.fp, "invalid", `${name}: ${r.reason}`, "", started);
      const parsed = parseHandoff(name, r.text);
      if (!parsed.ok) return refuse(name, r.fp, "invalid", parsed.reason, parsed.pool_id ?? "", started);
      const h = parsed.handoff;
      const holder = bound.get(h.key);
      if (holder) {
        const reason = `${h.key} is already bound to ${holder.url} (from ${holder.file}); a changed handoff for a bound pool is ignored`;
        return refuse(name, r.fp, "duplicate", reason, h.pool_id, started);
      }
      if (h.ignored_keys) log.warn(`Handoff ${name} has fields this node does not know: ${h.ignored_keys.join(", ")}`, { file: name, keys: h.ignored_keys });
      ctx.pipeToSelf(bindAndDelete(options.bind, h, join(dir, name), autoDelete), (outcome) => ({ type: "handoff-bound", handoff: h, fp: r.fp, started, outcome }));
    };

    const onBound = (h: Handoff, fp: string, started: number, r: BindResult) => {
      if (!r.ok) return refuse(h.file, fp, "bind_failed", r.reason, h.pool_id, started);
      const at = ctx.clock.now();
      bound.set(h.key, { key: h.key, pool_id: h.pool_id, replica_id: h.replica_id, url: h.url, model_id: h.model_id, file: h.file, bound_at_ms: at });
      seen.set(h.file, fp);
      errors.delete(h.file);
      count(h.pool_id, "bound", started);
      const fields = { file: h.file, pool_id: h.pool_id, replica_id: h.replica_id, url: h.url, model: h.model_id, engine_version: h.engine_version };
      log.info(`Bound engine at ${h.url} as pool ${h.pool_id}`, fields);
      if (r.deleteError) log.warn(`Could not delete handoff ${h.file} after binding it: ${r.deleteError}`, { file: h.file, reason: r.deleteError });
      next();
    };

    return {
      init() {
        ctx.self.tell({ type: "handoff-tick" });
      },
      receive(msg) {
        switch (msg.type) {
          case "status":
            return status();
          case "scan": {
            const reply = ctx.takeReply<HandoffStatus>();
            if (!reply) {
              if (!scanning) startScan();
              return;
            }
            if (scanning) answerNext.push(reply);
            else {
              answerNow.push(reply);
              startScan();
            }
            return;
          }
          case "settle": {
            if (!scanning) return status();
            const reply = ctx.takeReply<HandoffStatus>();
            if (reply) settleWaiters.push(reply);
            return;
          }
          case "release": {
            const holder = bound.get(`${msg.pool_id}:${msg.replica_id}`);
            if (!holder) return { released: false };
            bound.delete(holder.key);
            // A file still there (autoDelete off, or a newer one refused as duplicate) binds again.
            seen.delete(holder.file);
            errors.delete(holder.file);
            log.info(`Released pool ${holder.pool_id} replica ${holder.replica_id}; a handoff for it may bind again`, { pool_id: holder.pool_id, replica_id: holder.replica_id });
            return { released: true };
          }
          case "handoff-tick":
            if (!scanning) startScan();
            return;
          case "handoff-listed": {
            if (!msg.outcome.ok) {
              const reason = errorText(msg.outcome.error);
              // Logged when the problem changes, not at every poll.
              if (reason !== listError) log.warn(`Cannot list the handoff directory ${dir}: ${reason}`, { dir, reason });
              listError = reason;
              return endScan();
            }
            if (listError !== undefined) log.info(`The handoff directory ${dir} can be listed again`, { dir });
            listError = undefined;
            const present = new Set(msg.outcome.value.map((f) => f.name));
            // A file that went away is forgotten: the same name later is a new handoff.
            for (const name of [...seen.keys()]) if (!present.has(name)) seen.delete(name);
            for (const name of [...errors.keys()]) if (!present.has(name)) errors.delete(name);
            queue = msg.outcome.value.filter((f) => seen.get(f.name) !== f.fp);
            return next();
          }
          case "handoff-read":
            if (!msg.outcome.ok) return refuse(msg.name, "", "invalid", `${msg.name}: ${errorText(msg.outcome.error)}`, "", msg.started);
            return onRead(msg.name, msg.started, msg.outcome.value);
          case "handoff-bound":
            if (!msg.outcome.ok) return refuse(msg.handoff.file, msg.fp, "bind_failed", errorText(msg.outcome.error), msg.handoff.pool_id, msg.started);
            return onBound(msg.handoff, msg.fp, msg.started, msg.outcome.value);
        }
      },
    };
  };
}

/** The watcher as a child of the node supervisor (path `<parent>/handoff`). */
export function handoffWatcherSpec(options: HandoffWatcherOptions): ChildSpec {
  return { id: HANDOFF_WATCHER_ID, start: handoffWatcher(options), restart: "permanent" };
}
