// From a pool's `model` string to a file an engine can load, the first condition of a pool's
// readiness (docs/configuration.md#model-refs-and-downloads): local files must exist; remote files
// come from the model cache, or are downloaded into it when the node's policy allows (off by
// default); a digest given in the config is verified before the pool may report ready. Progress
// is reported as one preparation step per model (docs/contract.md#tasks), which the node turns
// into pool status and SSE `prep` entries.

import { createHash } from "node:crypto";
import { rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { RealClock, type Clock } from "../../../runtime/index.ts";
import type { PreparationStep } from "../../../contract/index.ts";
import { DigestMismatch, downloadModel, hashFile, normalizeSha256, progressThrottle, redactUrl, type DownloadResult } from "./download.ts";
import { hfUrl, ModelError, modelId, parseModelRef, type ModelRef } from "./ref.ts";

export type PrepStatus = "pending" | "running" | "completed" | "failed";
export type PrepPhase = "download" | "verify" | "ready";

/** A preparation step (docs/contract.md#tasks) plus live progress. */
export interface PrepStep {
  id: string;
  kind: "model_fetch";
  group: "model";
  description: string;
  /** Time still expected, from the measured rate; 0 when unknown or done. */
  estimated_ms: number;
  /** 0 when the server did not say. */
  bytes_total: number;
  bytes_done: number;
  status: PrepStatus;
  phase: PrepPhase;
  pct?: number;
  /** Why a failed step failed. */
  error?: string;
}

export interface ModelSettings {
  cacheDir: string;
  allowDownloads: boolean;
  hfToken?: string;
}

export interface ResolvedModel {
  /** The `models_available` entry. */
  id: string;
  ref: ModelRef;
  /** The file to load; absent for a plain name (the mock engines take the name itself). */
  path?: string;
  /** Lowercase hex; present when verified or just downloaded. */
  sha256?: string;
  source: "name" | "local" | "cache" | "download";
}

/** Per-node memory: digests by (path, size, mtime) and downloads in flight by destination. */
export interface ResolveMemo {
  digests: Map<string, string>;
  downloads: Map<string, Promise<DownloadResult>>;
}

export function createResolveMemo(): ResolveMemo {
  return { digests: new Map(), downloads: new Map() };
}

export interface ResolveOptions {
  /** Relative paths resolve against it. */
  baseDir: string;
  homeDir?: string;
  /** Explicit settings win; missing ones come from `env` (default `process.env`), then defaults. */
  cacheDir?: string;
  allowDownloads?: boolean;
  hfToken?: string;
  env?: Record<string, string | undefined>;
  /** hex or `sha256:<hex>` */
  expectedSha256?: string;
  fetch?: typeof fetch;
  onStep?: (step: PrepStep) => void;
  clock?: Clock;
  signal?: AbortSignal;
  /** Where `hf:` refs are fetched from (tests point it at a local server). */
  hfBaseUrl?: string;
  memo?: ResolveMemo;
  progressIntervalMs?: number;
}

export function defaultModelCache(home = homedir()): string {
  return join(home, ".cache", "llama-orch", "models");
}

/** POOL_MANAGERD_MODEL_CACHE, POOL_MANAGERD_ALLOW_DOWNLOADS (true/false, default false), HF_TOKEN. */
export function modelSettings(env: Record<string, string | undefined>): ModelSettings {
  const allow = env.POOL_MANAGERD_ALLOW_DOWNLOADS?.trim().toLowerCase();
  let allowDownloads = false;
  if (allow !== undefined && allow !== "") {
    if (["1", "true", "yes", "on"].includes(allow)) allowDownloads = true;
    else if (!["0", "false", "no", "off"].includes(allow)) {
      throw new Error(`POOL_MANAGERD_ALLOW_DOWNLOADS must be true or false, got '${env.POOL_MANAGERD_ALLOW_DOWNLOADS}'`);
    }
  }
  const token = env.HF_TOKEN?.trim();
  return { cacheDir: env.POOL_MANAGERD_MODEL_CACHE || defaultModelCache(), allowDownloads, ...(token ? { hfToken: token } : {}) };
}

/** `<cacheDir>/<first 16 hex of sha256(url)>/<file name>`: one folder per URL, the name kept for humans. */
export function cachePath(url: string, cacheDir: string): string {
  const key = createHash("sha256").update(url).digest("hex").slice(0, 16);
  let name = "";
  try {
    name = decodeURIComponent(basename(new URL(url).pathname));
  } catch {
    name = "";
  }
  name = name.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "");
  return join(cacheDir, key, name || "model.gguf");
}

/** A step as pool snapshots and 202s carry it (docs/contract.md#tasks, plus progress; the reason folded into a failed step's description). */
export function preparationStep(step: PrepStep): PreparationStep {
  return {
    id: step.id,
    kind: step.kind,
    group: step.group,
    description: step.status === "failed" ? `${step.description}: ${step.error ?? "failed"}`.slice(0, 2048) : step.description,
    estimated_ms: step.estimated_ms,
    bytes_total: step.bytes_total,
    status: step.status,
    bytes_done: step.bytes_done,
    ...(step.pct !== undefined ? { pct: step.pct } : {}),
    phase: step.phase,
  };
}

/** The SSE `prep` entry of a step: `{status, bytes_total, bytes_done, pct, phase, human}`. */
export function prepProgress(step: PrepStep) {
  return { status: step.status, bytes_total: step.bytes_total, bytes_done: step.bytes_done, pct: step.pct ?? 0, phase: step.phase, human: humanStep(step) };
}

function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function humanStep(step: PrepStep): string {
  if (step.status === "failed") return `${step.description}: failed: ${step.error ?? "unknown error"}`;
  if (step.status === "completed") return `${step.description}: done`;
  if (step.status === "pending") return `${step.description}: waiting`;
  const amount = step.bytes_total ? `${humanBytes(step.bytes_done)} / ${humanBytes(step.bytes_total)} (${step.pct ?? 0}%)` : humanBytes(step.bytes_done);
  const eta = step.estimated_ms ? `, about ${Math.ceil(step.estimated_ms / 1000)} s left` : "";
  return `${step.description}: ${step.phase === "verify" ? "verifying" : "downloading"} ${amount}${eta}`;
}

/** Emits the step's successive states, estimating the time left from the rate since it started running. */
function stepper(id: string, onStep: ResolveOptions["onStep"], clock: Clock) {
  const step: PrepStep = { id: `model:${id}`, kind: "model_fetch", group: "model", description: "", estimated_ms: 0, bytes_total: 0, bytes_done: 0, status: "pending", phase: "ready" };
  let runStart: { at: number; done: number } | undefined;
  return {
    describe(description: string) {
      step.description = description;
    },
    emit(patch: Partial<PrepStep>) {
      Object.assign(step, patch);
      if (step.status === "running") {
        runStart ??= { at: clock.now(), done: step.bytes_done };
        const elapsed = clock.now() - runStart.at;
        const rate = elapsed > 0 ? (step.bytes_done - runStart.done) / elapsed : 0;
        step.estimated_ms = rate > 0 && step.bytes_total > step.bytes_done ? Math.round((step.bytes_total - step.bytes_done) / rate) : 0;
      } else {
        step.estimated_ms = 0;
      }
      onStep?.({ ...step });
    },
    /** A new phase measures its own rate. */
    phase(phase: PrepPhase) {
      step.phase = phase;
      runStart = undefined;
    },
  };
}

type Step = ReturnType<typeof stepper>;

/** sha256 of a local file, once per (path, size, mtime) for the node's lifetime. */
export async function fileSha256(path: string, memo?: ResolveMemo, onBytes?: (done: number) => void): Promise<string> {
  const st = await stat(path);
  const key = `${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
  const known = memo?.digests.get(key);
  if (known) return known;
  const digest = (await hashFile(path, onBytes)).hash.digest("hex");
  memo?.digests.set(key, digest);
  return digest;
}

async function rememberDigest(path: string, sha256: string, memo: ResolveMemo | undefined): Promise<void> {
  if (!memo) return;
  const st = await stat(path);
  memo.digests.set(`${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}`, sha256);
}

async function fileSize(path: string): Promise<number | undefined> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isFile()) throw new ModelError("MODEL_NOT_FOUND", `model path ${path} is not a file`);
  return st.size;
}

/** Verifies a file on disk against the expected digest, with verify-phase progress. */
async function verify(path: string, size: number, expected: string, step: Step, options: ResolveOptions, clock: Clock): Promise<string> {
  step.phase("verify");
  step.emit({ status: "running", bytes_total: size, bytes_done: 0, pct: 0 });
  const report = progressThrottle((p) => step.emit({ bytes_done: p.bytes_done, pct: p.pct }), clock, options.progressIntervalMs);
  const actual = await fileSha256(path, options.memo, (done) => report(done, size));
  if (actual !== expected) throw new DigestMismatch(expected, actual, path);
  return actual;
}

export async function resolveModel(ref: string, options: ResolveOptions): Promise<ResolvedModel> {
  const clock = options.clock ?? new RealClock();
  const id = modelId(ref);
  const step = stepper(id, options.onStep, clock);
  try {
    return await resolveInner(ref, id, step, options, clock);
  } catch (error) {
    // Disk errors (EACCES, ENOSPC) and aborts fail the step too; their message is the reason.
    step.emit({ status: "failed", error: error instanceof Error ? error.message : String(error) });
    throw error;
  }
}

async function resolveInner(ref: string, id: string, step: Step, options: ResolveOptions, clock: Clock): Promise<ResolvedModel> {
  const parsed = parseModelRef(ref, { baseDir: options.baseDir, homeDir: options.homeDir });
  const expected = options.expectedSha256 === undefined ? undefined : normalizeSha256(options.expectedSha256);
  if (parsed.kind === "name") {
    if (expected) throw new ModelError("INVALID_MODEL_REF", `model '${ref}' is a name, not a file: a sha256 digest cannot be verified`);
    return { id, ref: parsed, source: "name" };
  }

  if (parsed.kind === "file") {
    step.describe(`local file ${parsed.path}`);
    const size = await fileSize(parsed.path);
    if (size === undefined) throw new ModelError("MODEL_NOT_FOUND", `model file ${parsed.path} does not exist (model '${ref}')`);
    const sha256 = expected ? await verify(parsed.path, size, expected, step, options, clock) : undefined;
    step.phase("ready");
    step.emit({ status: "completed", bytes_total: size, bytes_done: size, pct: 100 });
    return { id, ref: parsed, path: parsed.path, source: "local", ...(sha256 ? { sha256 } : {}) };
  }

  const env = options.env ?? process.env;
  const needsEnv = options.cacheDir === undefined || options.allowDownloads === undefined || (parsed.kind === "hf" && options.hfToken === undefined);
  const settings = needsEnv ? modelSettings(env) : undefined;
  const cacheDir = options.cacheDir ?? settings!.cacheDir;
  const allowDownloads = options.allowDownloads ?? settings!.allowDownloads;
  // The token goes to Hugging Face only, never to an arbitrary https:// host.
  const token = parsed.kind === "hf" ? (options.hfToken ?? settings?.hfToken) : undefined;
  const url = parsed.kind === "hf" ? hfUrl(parsed, options.hfBaseUrl) : parsed.url;
  const dest = cachePath(url, cacheDir);
  step.describe(`download ${redactUrl(url)} to ${dest}`);

  const cached = await fileSize(dest);
  if (cached !== undefined) {
    try {
      const sha256 = expected ? await verify(dest, cached, expected, step, options, clock) : undefined;
      step.phase("ready");
      step.emit({ status: "completed", bytes_total: cached, bytes_done: cached, pct: 100 });
      return { id, ref: parsed, path: dest, source: "cache", ...(sha256 ? { sha256 } : {}) };
    } catch (error) {
      // A stale cache entry (the expected digest changed) is fetched again when downloads are on.
      if (!(error instanceof DigestMismatch) || !allowDownloads) throw error;
      await rm(dest, { force: true });
      options.memo?.downloads.delete(dest);
    }
  }
  if (!allowDownloads) {
    throw new ModelError(
      "DOWNLOADS_DISABLED",
      `model '${ref}' is not in the model cache (${dest}) and downloads are disabled (set allow_downloads, or POOL_MANAGERD_ALLOW_DOWNLOADS=true)`,
    );
  }

  step.phase("download");
  step.emit({ status: "pending", bytes_done: 0, bytes_total: 0, pct: 0 });
  let download = options.memo?.downloads.get(dest);
  if (!download) {
    download = downloadModel({
      url,
      dest,
      sha256: expected,
      fetch: options.fetch,
      signal: options.signal,
      clock,
      token,
      progressIntervalMs: options.progressIntervalMs,
      onProgress: (p) => step.emit({ status: "running", bytes_done: p.bytes_done, bytes_total: p.bytes_total ?? 0, pct: p.pct }),
    });
    const memo = options.memo;
    if (memo) {
      // Only in-flight downloads are shared; a later resolve looks at the disk again.
      const inflight = download;
      memo.downloads.set(dest, inflight);
      const forget = () => void (memo.downloads.get(dest) === inflight && memo.downloads.delete(dest));
      inflight.then(forget, forget);
    }
  } else {
    step.emit({ status: "running" });
  }
  let result: DownloadResult;
  try {
    result = await download;
  } catch (error) {
    if (parsed.kind === "hf" && error instanceof ModelError && error.code === "DOWNLOAD_FAILED" && /HTTP 40[13]\b/.test(error.message) && !error.message.includes("HF_TOKEN")) {
      error.message += token ? " (gated or private repository: check that HF_TOKEN grants access)" : " (gated or private repository: set HF_TOKEN)";
    }
    throw error;
  }
  // A download shared with another pool was verified against that pool's digest, if any.
  if (expected && result.sha256 !== expected) throw new DigestMismatch(expected, result.sha256, dest);
  await rememberDigest(dest, result.sha256, options.memo);
  step.phase("ready");
  step.emit({ status: "completed", bytes_total: result.bytes, bytes_done: result.bytes, pct: 100 });
  return { id, ref: parsed, path: dest, sha256: result.sha256, source: "download" };
}
