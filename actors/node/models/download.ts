// Fetching one model file over HTTP(S) into place: streamed to `<dest>.part`, resumed with
// `Range: bytes=N-` after a dropped connection (in the same call, and across calls or restarts),
// hashed while it streams, verified against the expected sha256, fsynced and renamed onto `dest`
// so that `dest` only ever holds a complete file. A wrong digest deletes the partial file: resuming
// bytes that hash wrong would only fail again.
//
// `<dest>.part.json` remembers the server's validator (strong ETag or Last-Modified) so a resume
// sends `If-Range`: a file that changed upstream comes back whole (200) instead of being spliced.

import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, statfs, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { RealClock, type Clock } from "../../../runtime/index.ts";
import { ModelError } from "./ref.ts";

export interface DownloadProgress {
  bytes_done: number;
  bytes_total?: number;
  /** 0–100 with one decimal, when the size is known. */
  pct?: number;
}

export interface DownloadOptions {
  url: string;
  dest: string;
  /** Expected digest of the whole file: hex or `sha256:<hex>`. */
  sha256?: string;
  fetch?: typeof fetch;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  clock?: Clock;
  /** Sent as `Authorization: Bearer` (Hugging Face); never appears in errors. */
  token?: string;
  /** Requests in one call: a dropped connection is resumed while each try adds bytes (default 5). */
  attempts?: number;
  /** Progress is reported at most every 1% or this often, whichever comes first (default 250 ms). */
  progressIntervalMs?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** Lowercase hex of the whole file. */
  sha256: string;
}

export class DigestMismatch extends ModelError {
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly path: string,
  ) {
    super("DIGEST_MISMATCH", `digest mismatch for ${path}: expected sha256:${expected}, got sha256:${actual}`);
  }
}

export class DownloadFailed extends ModelError {
  constructor(
    readonly status: number | undefined,
    readonly reason: string,
    url: string,
  ) {
    super("DOWNLOAD_FAILED", `download of ${url} failed: ${status ? `HTTP ${status} ` : ""}${reason}`);
  }
}

/** A transfer cut short; the partial file stays for the next try. */
class Interrupted extends Error {}

/** `sha256:<hex>` or `<hex>` → lowercase hex; anything else is refused. */
export function normalizeSha256(digest: string): string {
  const hex = digest.trim().replace(/^sha256:/i, "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new ModelError("INVALID_DIGEST", `'${digest}' is not a sha256 digest (64 hex digits, optionally prefixed sha256:)`);
  return hex;
}

/** The URL as it may appear in logs and errors: no credentials, no query (signed URLs carry keys in it). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const auth = u.username || u.password ? "***@" : "";
    return `${u.protocol}//${auth}${u.host}${u.pathname}${u.search ? "?…" : ""}`;
  } catch {
    return "<invalid url>";
  }
}

/** Reports at start, on each whole percent crossed or interval passed, and (forced) at the end. */
export function progressThrottle(report: ((p: DownloadProgress) => void) | undefined, clock: Clock, intervalMs = 250) {
  let lastPct = -1;
  let lastAt = -Infinity;
  return (done: number, total: number | undefined, force = false) => {
    if (!report) return;
    const pct = total ? Math.round((done / total) * 1000) / 10 : undefined;
    const now = clock.now();
    if (!force && Math.floor(pct ?? -1) <= lastPct && now - lastAt < intervalMs) return;
    lastPct = Math.floor(pct ?? -1);
    lastAt = now;
    report(total === undefined ? { bytes_done: done } : { bytes_done: done, bytes_total: total, pct });
  };
}

/** Hashes a file already on disk, reporting progress (a 40 GB GGUF takes minutes). */
export async function hashFile(path: string, onBytes?: (done: number) => void, into: Hash = createHash("sha256")): Promise<{ hash: Hash; bytes: number }> {
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    into.update(chunk);
    bytes += chunk.length;
    onBytes?.(bytes);
  }
  return { hash: into, bytes };
}

async function sizeOf(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

export async function downloadModel(options: DownloadOptions): Promise<DownloadResult> {
  const expected = options.sha256 === undefined ? undefined : normalizeSha256(options.sha256);
  const clock = options.clock ?? new RealClock();
  const progress = progressThrottle(options.onProgress, clock, options.progressIntervalMs);
  const shown = redactUrl(options.url);
  const scrub = (text: string) => (options.token ? text.replaceAll(options.token, "<redacted>") : text);
  await mkdir(dirname(options.dest), { recursive: true });
  const attempts = Math.max(1, options.attempts ?? 5);
  let lastCut = "";
  for (let attempt = 0; attempt < attempts; attempt++) {
    const before = await sizeOf(`${options.dest}.part`);
    try {
      return await transfer(options, expected, progress, shown);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (error instanceof ModelError) error.message = scrub(error.message);
      if (!(error instanceof Interrupted)) throw error;
      lastCut = scrub(error.message);
      // Another try only while tries make progress: a server that drops every connection at once
      // would otherwise be hammered.
      if ((await sizeOf(`${options.dest}.part`)) <= before) break;
    }
  }
  throw new DownloadFailed(undefined, lastCut, shown);
}

interface PartMeta {
  url: string;
  validator?: string;
}

async function readMeta(path: string, url: string): Promise<string | undefined> {
  try {
    const meta = JSON.parse(await readFile(path, "utf8")) as PartMeta;
    return meta.url === url ? meta.validator : undefined;
  } catch {
    return undefined;
  }
}

// `bytes START-END/TOTAL` or `bytes */TOTAL` (a 416 answer); TOTAL may be `*`.
function contentRange(header: string | null): { start?: number; total?: number } {
  const m = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(header?.trim() ?? "");
  if (!m) return {};
  return { start: m[1] === undefined ? undefined : Number(m[1]), total: m[2] === "*" ? undefined : Number(m[2]) };
}

async function errorDetail(res: Response): Promise<string> {
  const text = (await res.text().catch(() => "")).replace(/\s+/g, " ").trim().slice(0, 200);
  return [res.statusText, text].filter(Boolean).join(": ") || "error";
}

async function transfer(
  options: DownloadOptions,
  expected: string | undefined,
  progress: ReturnType<typeof progressThrottle>,
  shown: string,
  restarted = false,
): Promise<DownloadResult> {
  const { url, dest, signal } = options;
  const part = `${dest}.part`;
  const metaPath = `${dest}.part.json`;
  const restart = async () => {
    if (restarted) throw new DownloadFailed(undefined, "server answers range requests inconsistently", shown);
    await rm(part, { force: true });
    return transfer(options, expected, progress, shown, true);
  };
  const offset = await sizeOf(part);
  // identity: a compressed body would make byte offsets meaningless for Range.
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    const validator = await readMeta(metaPath, url);
    if (validator) headers["if-range"] = validator;
  }
  let res: Response;
  try {
    res = await (options.fetch ?? fetch)(url, { headers, signal, redirect: "follow" });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new Interrupted(`request failed: ${(error as Error).message}`);
  }

  let append = false;
  let total: number | undefined;
  if (res.status === 416 && offset > 0) {
    await res.body?.cancel();
    // The partial file may already be whole (cut after the last byte, before the rename).
    if (contentRange(res.headers.get("content-range")).total === offset) return finish(options, expected, progress, offset);
    return restart();
  }
  if (!res.ok) throw new DownloadFailed(res.status, await errorDetail(res), shown);
  if (res.status === 206) {
    const range = contentRange(res.headers.get("content-range"));
    if (offset === 0 || range.start !== offset) {
      await res.body?.cancel();
      return restart();
    }
    append = true;
    total = range.total;
  } else {
    // 200: a fresh start, or a server that ignores Range (or an If-Range that no longer matches).
    const length = res.headers.get("content-length");
    total = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
  }
  const start = append ? offset : 0;
  if (total !== undefined) await ensureSpace(dirname(dest), total - start, shown, res);
  if (!append) {
    // If-Range needs a strong validator: a weak ETag cannot vouch for byte ranges.
    const etag = res.headers.get("etag");
    const validator = etag && !etag.startsWith("W/") ? etag : (res.headers.get("last-modified") ?? undefined);
    await writeFile(metaPath, JSON.stringify({ url, validator } satisfies PartMeta));
  }

  const hash = createHash("sha256");
  if (append) await hashFile(part, undefined, hash);
  const file = await open(part, append ? "a" : "w");
  let done = start;
  progress(done, total, true);
  try {
    for await (const chunk of res.body ?? []) {
      await file.write(chunk);
      hash.update(chunk);
      done += chunk.length;
      progress(done, total);
    }
    await file.sync();
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw new Interrupted(`connection lost after ${done} bytes: ${(error as Error).message}`);
  } finally {
    await file.close();
  }
  if (total !== undefined && done < total) throw new Interrupted(`transfer ended at ${done} of ${total} bytes`);
  if (total !== undefined && done > total) {
    await rm(part, { force: true });
    throw new DownloadFailed(res.status, `server sent ${done} bytes, more than the ${total} it announced`, shown);
  }
  return finish(options, expected, progress, done, hash.digest("hex"));
}

async function ensureSpace(dir: string, need: number, shown: string, res: Response): Promise<void> {
  const fs = await statfs(dir).catch(() => undefined);
  if (!fs) return;
  const free = fs.bavail * fs.bsize;
  if (free >= need) return;
  await res.body?.cancel();
  throw new DownloadFailed(undefined, `not enough disk space in ${dir}: needs ${need} bytes, ${free} free`, shown);
}

/** Verifies the complete `.part` and renames it onto `dest`. */
async function finish(
  options: DownloadOptions,
  expected: string | undefined,
  progress: ReturnType<typeof progressThrottle>,
  bytes: number,
  actual?: string,
): Promise<DownloadResult> {
  const { dest } = options;
  const part = `${dest}.part`;
  if (actual === undefined) actual = (await hashFile(part)).hash.digest("hex");
  if (expected !== undefined && actual !== expected) {
    await rm(part, { force: true });
    await rm(`${part}.json`, { force: true });
    throw new DigestMismatch(expected, actual, dest);
  }
  await rename(part, dest);
  await rm(`${part}.json`, { force: true });
  progress(bytes, bytes, true);
  return { path: dest, bytes, sha256: actual };
}
