// Removing a pool's model from the node's model cache (POST /v2/pools/{id}/purge). Only files the
// node itself downloaded are removed: the cache entry of an https:// or hf: ref (`cachePath`), its
// partial download and its resume file. A local path of the pools file is the operator's file and
// is never removed; a name is no file. A cache entry another pool of this node still uses stays.

import { lstat, rm, rmdir } from "node:fs/promises";
import { dirname } from "node:path";
import { hfUrl, parseModelRef, type ParseOptions } from "./ref.ts";
import { cachePath, defaultModelCache } from "./resolve.ts";

export interface CacheOptions extends ParseOptions {
  /** The node's model cache; default POOL_MANAGERD_MODEL_CACHE, else ~/.cache/llama-orch/models. */
  cacheDir?: string;
  hfBaseUrl?: string;
}

export interface PurgeResult {
  removed: { path: string; bytes: number }[];
  /** Why nothing was removed. */
  kept?: string;
}

/** The cache entry `ref` downloads to, or why it has none (a local path, a name, a bad ref). */
export function cacheEntry(ref: string, options: CacheOptions): { path: string } | { kept: string } {
  let parsed;
  try {
    parsed = parseModelRef(ref, options);
  } catch (error) {
    return { kept: `model '${ref}' names no cache entry: ${(error as Error).message}` };
  }
  if (parsed.kind === "name") return { kept: `model '${ref}' is a name, not a file: nothing is cached for it` };
  if (parsed.kind === "file") return { kept: `model file ${parsed.path} is a local path of the pools file, not a download: the node never removes it` };
  const url = parsed.kind === "hf" ? hfUrl(parsed, options.hfBaseUrl) : parsed.url;
  return { path: cachePath(url, options.cacheDir || process.env.POOL_MANAGERD_MODEL_CACHE || defaultModelCache()) };
}

/** Pools of one node and the cache entries their engines load, so a purge spares what another pool uses. */
export class CacheUsers {
  private readonly byPool = new Map<string, string>();
  set(poolId: string, path: string | undefined): void {
    if (path === undefined) this.byPool.delete(poolId);
    else this.byPool.set(poolId, path);
  }
  /** Other pools whose engines load `path`. */
  others(path: string, poolId: string): string[] {
    return [...this.byPool].filter(([p, used]) => p !== poolId && used === path).map(([p]) => p);
  }
}

/**
 * Removes the cache entry of `ref` (and `<entry>.part`, `<entry>.part.json`), then its folder when
 * empty. Throws when a file exists but cannot be removed; the files removed so far stay removed.
 */
export async function purgeCachedModel(ref: string, options: CacheOptions & { poolId?: string; users?: CacheUsers }): Promise<PurgeResult> {
  const entry = cacheEntry(ref, options);
  if ("kept" in entry) return { removed: [], kept: entry.kept };
  const others = options.poolId && options.users ? options.users.others(entry.path, options.poolId) : [];
  if (others.length > 0) return { removed: [], kept: `${entry.path} is also the model of pool ${others.join(", ")} on this node: kept` };
  const removed: PurgeResult["removed"] = [];
  for (const path of [entry.path, `${entry.path}.part`, `${entry.path}.part.json`]) {
    const st = await lstat(path).catch(() => undefined);
    if (!st || st.isDirectory()) continue;
    await rm(path, { force: true });
    removed.push({ path, bytes: st.isFile() ? st.size : 0 });
  }
  // The entry's own folder (one per URL) goes when nothing else is in it.
  await rmdir(dirname(entry.path)).catch(() => undefined);
  return removed.length > 0 ? { removed } : { removed, kept: `nothing cached at ${entry.path}` };
}
