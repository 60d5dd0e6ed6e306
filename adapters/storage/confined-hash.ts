// SHA-256 of a file a peer names (catalog verify), confined: the path must lie under one of the
// configured roots (after symlinks are resolved), must be a regular file (not a device or FIFO),
// at most `maxBytes` long, and hashed within `timeoutMs`. The hash streams; only the bytes the
// file had when it was checked are read. A path outside the roots gets the same answer whether or
// not it exists, so the check tells nothing about the rest of the filesystem.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { RealClock, type Clock } from "../../runtime/index.ts";

export interface HashLimits {
  /** Directories a hashed file must lie under (resolved, symlinks included). */
  roots: readonly string[];
  maxBytes: number;
  timeoutMs: number;
  /** The time limit's clock; the real one when absent. */
  clock?: Clock;
}

export type HashRefusal = "outside_roots" | "file_missing" | "not_regular_file" | "too_large" | "timed_out" | "unreadable";

export type ConfinedHash = { ok: true; hex: string; bytes: number } | { ok: false; reason: HashRefusal; detail: string };

/** Whether `path` is `root` or lies below it (both absolute and normalised). */
export function isUnder(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

const outside = (path: string): ConfinedHash => ({ ok: false, reason: "outside_roots", detail: `${path} is not under a configured catalog root` });

export async function hashConfinedFile(path: string, limits: HashLimits): Promise<ConfinedHash> {
  const given = resolve(path);
  // First by name, so a path outside the roots is refused before the filesystem is asked anything.
  if (!limits.roots.some((root) => isUnder(given, resolve(root)))) return outside(path);
  let real: string;
  try {
    real = await realpath(given);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { ok: false, reason: "file_missing", detail: `no file at ${path}` };
    return { ok: false, reason: "unreadable", detail: `cannot read ${path}: ${code ?? "error"}` };
  }
  // Again after symlinks: a link under a root may point anywhere.
  const realRoots = await Promise.all(limits.roots.map((root) => realpath(resolve(root)).catch(() => resolve(root))));
  if (!realRoots.some((root) => isUnder(real, root))) return outside(path);
  let size: number;
  try {
    const info = await stat(real);
    if (!info.isFile()) return { ok: false, reason: "not_regular_file", detail: `${path} is not a regular file` };
    size = info.size;
  } catch (e) {
    return { ok: false, reason: "unreadable", detail: `cannot read ${path}: ${(e as { code?: string }).code ?? "error"}` };
  }
  if (size > limits.maxBytes) return { ok: false, reason: "too_large", detail: `${path} has ${size} bytes, over the limit of ${limits.maxBytes}` };
  return streamHash(real, path, size, limits.timeoutMs, limits.clock ?? new RealClock());
}

function streamHash(real: string, path: string, size: number, timeoutMs: number, clock: Clock): Promise<ConfinedHash> {
  return new Promise((done) => {
    const hash = createHash("sha256");
    // `end` is inclusive; an empty file reads nothing (start 0, end -1 would read it all).
    const stream = size === 0 ? undefined : createReadStream(real, { start: 0, end: size - 1, highWaterMark: 1 << 20 });
    if (!stream) return done({ ok: true, hex: hash.digest("hex"), bytes: 0 });
    let bytes = 0;
    let finished = false;
    const started = clock.now();
    const timeOut = () => {
      if (finished) return;
      finished = true;
      timer.cancel();
      stream.destroy();
      done({ ok: false, reason: "timed_out", detail: `hashing ${path} took longer than ${timeoutMs} ms` });
    };
    // The timer covers a read that stalls; the check per chunk, a busy loop that starves timers.
    const timer = clock.setTimeout(timeOut, timeoutMs);
    stream.on("data", (chunk) => {
      if (clock.now() - started >= timeoutMs) return timeOut();
      bytes += chunk.length;
      hash.update(chunk);
    });
    stream.on("error", (e) => {
      if (finished) return;
      finished = true;
      timer.cancel();
      done({ ok: false, reason: "unreadable", detail: `cannot read ${path}: ${(e as { code?: string }).code ?? "error"}` });
    });
    stream.on("end", () => {
      if (finished) return;
      finished = true;
      timer.cancel();
      done({ ok: true, hex: hash.digest("hex"), bytes });
    });
  });
}
