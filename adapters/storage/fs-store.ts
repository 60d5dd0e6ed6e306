// A small durable file store: flat names under one root directory, atomic writes (a temp file in
// the same directory, fsync, then rename), reads, deletes, listing, and JSON helpers. A reader
// sees either the old or the new content of a file, never a torn one, even after a crash.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";

/** Names are single path segments, so nothing a caller passes can escape the root. */
const NAME_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;
const TEMP_MARK = ".tmp-";

export class StoreNameError extends Error {
  readonly code = "INVALID_NAME" as const;
  constructor(name: string) {
    super(`invalid store name ${JSON.stringify(name)}: use letters, digits, '.', '_' or '-', not starting with '.'`);
  }
}

export class FsStore {
  private tempSeq = 0;

  private constructor(readonly root: string) {}

  /** Creates the root if needed and removes temp files a crashed writer left behind. */
  static async open(root: string): Promise<FsStore> {
    await mkdir(root, { recursive: true });
    for (const entry of await readdir(root)) {
      if (entry.startsWith(".") && entry.includes(TEMP_MARK)) await rm(join(root, entry), { force: true });
    }
    return new FsStore(root);
  }

  static isValidName(name: string): boolean {
    return NAME_RE.test(name);
  }

  /** Absolute path of `name` under the root. */
  pathOf(name: string): string {
    if (!FsStore.isValidName(name)) throw new StoreNameError(name);
    return join(this.root, name);
  }

  /** The bytes of `name`, or undefined when it does not exist. */
  async read(name: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.pathOf(name)));
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async readText(name: string): Promise<string | undefined> {
    const bytes = await this.read(name);
    return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  }

  /** Parsed JSON of `name`, or undefined when it does not exist. Malformed JSON throws. */
  async readJson<T = unknown>(name: string): Promise<T | undefined> {
    const text = await this.readText(name);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new Error(`${this.pathOf(name)} is not valid JSON: ${(e as Error).message}`);
    }
  }

  /** Replaces `name` atomically: the data is fsynced in a temp file that is then renamed over it. */
  async write(name: string, data: string | Uint8Array): Promise<void> {
    const target = this.pathOf(name);
    const temp = join(this.root, `.${name}${TEMP_MARK}${process.pid}-${++this.tempSeq}`);
    const handle = await open(temp, "w", 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } catch (e) {
      await handle.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw e;
    }
    await handle.close();
    try {
      await rename(temp, target);
    } catch (e) {
      await unlink(temp).catch(() => {});
      throw e;
    }
    await syncDir(this.root);
  }

  /** Pretty JSON (two-space indent, trailing newline), so operators can read the files. */
  writeJson(name: string, value: unknown): Promise<void> {
    return this.write(name, `${JSON.stringify(value, null, 2)}\n`);
  }

  /** True when the file existed. */
  async delete(name: string): Promise<boolean> {
    try {
      await unlink(this.pathOf(name));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async has(name: string): Promise<boolean> {
    return (await this.read(name)) !== undefined;
  }

  /** Names in the store (temp files excluded), sorted; optionally only those ending in `suffix`. */
  async list(suffix = ""): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && FsStore.isValidName(e.name) && e.name.endsWith(suffix))
      .map((e) => e.name)
      .sort();
  }
}

/** Lowercase hex SHA-256 of a file, streamed so a multi-GiB model never sits in memory. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    const stream = createReadStream(path, { highWaterMark: 1 << 20 });
    stream.on("data", (chunk) => hash.update(chunk));
    stream.on("error", reject);
    stream.on("end", () => resolve(hash.digest("hex")));
  });
}

function isNotFound(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === "ENOENT";
}

/** The rename is durable only once the directory entry is on disk too. */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    await handle?.close().catch(() => {});
  }
}
