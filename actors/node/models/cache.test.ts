import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { cacheEntry, CacheUsers, purgeCachedModel } from "./cache.ts";
import { cachePath } from "./resolve.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp() {
  const d = mkdtempSync(join(tmpdir(), "llorch-cache-"));
  dirs.push(d);
  return d;
}

describe("purging a pool's model from the model cache", () => {
  test("an https ref: the download, its partial file and resume file go, then the empty entry folder", async () => {
    const cacheDir = tmp();
    const url = "https://models.example/m.gguf";
    const dest = cachePath(url, cacheDir);
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, "x".repeat(100));
    writeFileSync(`${dest}.part`, "y".repeat(10));
    writeFileSync(`${dest}.part.json`, "{}");
    const r = await purgeCachedModel(url, { baseDir: "/", cacheDir });
    expect(r).toEqual({ removed: [{ path: dest, bytes: 100 }, { path: `${dest}.part`, bytes: 10 }, { path: `${dest}.part.json`, bytes: 2 }] });
    expect(existsSync(dirname(dest))).toBe(false);
    expect(existsSync(cacheDir)).toBe(true);
  });

  test("an hf ref maps to the same entry the download used", async () => {
    const cacheDir = tmp();
    const entry = cacheEntry("hf:org/repo/m.gguf", { baseDir: "/", cacheDir, hfBaseUrl: "http://127.0.0.1:9/hf" });
    expect(entry).toEqual({ path: cachePath("http://127.0.0.1:9/hf/org/repo/resolve/main/m.gguf", cacheDir) });
  });

  test("a local path of the pools file is never removed; a name has no file", async () => {
    const dir = tmp();
    const file = join(dir, "mine.gguf");
    writeFileSync(file, "keep");
    const local = await purgeCachedModel(file, { baseDir: dir, cacheDir: dir });
    expect(local).toEqual({ removed: [], kept: `model file ${file} is a local path of the pools file, not a download: the node never removes it` });
    expect(existsSync(file)).toBe(true);
    expect(await purgeCachedModel("tiny", { baseDir: dir })).toEqual({ removed: [], kept: "model 'tiny' is a name, not a file: nothing is cached for it" });
  });

  test("nothing cached: nothing removed, and says where it looked", async () => {
    const cacheDir = tmp();
    const url = "https://models.example/none.gguf";
    expect(await purgeCachedModel(url, { baseDir: "/", cacheDir })).toEqual({ removed: [], kept: `nothing cached at ${cachePath(url, cacheDir)}` });
  });

  test("an entry another pool of the node loads is kept", async () => {
    const cacheDir = tmp();
    const url = "https://models.example/shared.gguf";
    const dest = cachePath(url, cacheDir);
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, "shared");
    const users = new CacheUsers();
    users.set("a", dest);
    users.set("b", dest);
    const r = await purgeCachedModel(url, { baseDir: "/", cacheDir, poolId: "a", users });
    expect(r).toEqual({ removed: [], kept: `${dest} is also the model of pool b on this node: kept` });
    expect(existsSync(dest)).toBe(true);
    users.set("b", undefined);
    expect((await purgeCachedModel(url, { baseDir: "/", cacheDir, poolId: "a", users })).removed).toEqual([{ path: dest, bytes: 6 }]);
  });
});
