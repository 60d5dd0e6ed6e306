// downloadModel against a local HTTP server: whole downloads verify, a wrong digest leaves nothing
// behind, a cut connection resumes with Range (in the same call and in a later one), servers that
// ignore Range or answer 416 are handled, HTTP errors are typed, and tokens never reach messages.

import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SimClock } from "../../../runtime/index.ts";
import { DigestMismatch, DownloadFailed, downloadModel, type DownloadProgress } from "./download.ts";

const DATA = new Uint8Array(200_000).map((_, i) => (i * 7919 + (i >> 8)) % 251);
const SHA = createHash("sha256").update(DATA).digest("hex");
const ETAG = '"v1"';

interface Seen {
  range: string | null;
  ifRange: string | null;
  auth: string | null;
  encoding: string | null;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "download-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function serve(handler: (req: Request, n: number) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      seen.push({ range: req.headers.get("range"), ifRange: req.headers.get("if-range"), auth: req.headers.get("authorization"), encoding: req.headers.get("accept-encoding") });
      return handler(req, seen.length);
    },
  });
  cleanups.push(() => server.stop(true));
  return { url: `http://127.0.0.1:${server.port}/models/tiny.gguf`, seen };
}

/** A server that honours `Range: bytes=N-` (and If-Range against ETAG) the way CDNs do. */
function ranged(req: Request): Response {
  const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
  const ifRange = req.headers.get("if-range");
  if (!range || (ifRange !== null && ifRange !== ETAG)) return new Response(DATA, { headers: { etag: ETAG } });
  const start = Number(range[1]);
  if (start >= DATA.length) return new Response(null, { status: 416, headers: { "content-range": `bytes */${DATA.length}` } });
  return new Response(DATA.slice(start), { status: 206, headers: { etag: ETAG, "content-range": `bytes ${start}-${DATA.length - 1}/${DATA.length}` } });
}

/** Sends `bytes`, waits until the client has them (`release`), then drops the connection. */
function cutAfter(bytes: Uint8Array, release: Promise<void>): Response {
  let sent = false;
  const body = new ReadableStream({
    async pull(c) {
      if (!sent) {
        sent = true;
        c.enqueue(bytes);
        return;
      }
      await release;
      c.error(); // no reason: Bun logs nothing and the client sees the connection reset
    },
  });
  return new Response(body, { headers: { etag: ETAG } });
}

function releaser() {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  return { release, released };
}

test("a whole download verifies, lands atomically and reports progress up to 100%", async () => {
  const dir = await tempDir();
  const { url, seen } = serve(ranged);
  const progress: DownloadProgress[] = [];
  const dest = join(dir, "sub", "tiny.gguf");
  const result = await downloadModel({ url, dest, sha256: `sha256:${SHA.toUpperCase()}`, clock: new SimClock(), onProgress: (p) => progress.push(p) });

  expect(result).toEqual({ path: dest, bytes: DATA.length, sha256: SHA });
  expect(new Uint8Array(await readFile(dest))).toEqual(DATA);
  expect(await readdir(join(dir, "sub"))).toEqual(["tiny.gguf"]);
  expect(seen).toHaveLength(1);
  expect(seen[0]!.range).toBeNull();
  expect(seen[0]!.encoding).toBe("identity");
  expect(progress[0]).toEqual({ bytes_done: 0, bytes_total: DATA.length, pct: 0 });
  expect(progress.at(-1)).toEqual({ bytes_done: DATA.length, bytes_total: DATA.length, pct: 100 });
  const done = progress.map((p) => p.bytes_done);
  expect(done).toEqual([...done].sort((a, b) => a - b));
  // Throttled to whole percents on a clock that never moves: never more than one report per percent.
  expect(progress.length).toBeLessThanOrEqual(102);
});

test("a digest mismatch names both digests and leaves no file behind", async () => {
  const dir = await tempDir();
  const { url } = serve(ranged);
  const dest = join(dir, "tiny.gguf");
  const wrong = "0".repeat(64);
  const error = await downloadModel({ url, dest, sha256: wrong }).catch((e) => e);
  expect(error).toBeInstanceOf(DigestMismatch);
  expect(error.code).toBe("DIGEST_MISMATCH");
  expect(error.expected).toBe(wrong);
  expect(error.actual).toBe(SHA);
  expect(error.message).toContain(`expected sha256:${wrong}, got sha256:${SHA}`);
  expect(await readdir(dir)).toEqual([]);
});

test("a malformed expected digest is refused before any request", async () => {
  const dir = await tempDir();
  const { url, seen } = serve(ranged);
  const error = await downloadModel({ url, dest: join(dir, "x.gguf"), sha256: "sha256:abc" }).catch((e) => e);
  expect(error.code).toBe("INVALID_DIGEST");
  expect(seen).toHaveLength(0);
});

test("a connection cut mid-transfer is resumed with Range and If-Range in the same call", async () => {
  const dir = await tempDir();
  const CUT = 60_000;
  const { release, released } = releaser();
  const { url, seen } = serve((req, n) => (n === 1 ? cutAfter(DATA.slice(0, CUT), released) : ranged(req)));
  const dest = join(dir, "tiny.gguf");
  const result = await downloadModel({
    url,
    dest,
    sha256: SHA,
    clock: new SimClock(),
    progressIntervalMs: 0,
    onProgress: (p) => p.bytes_done >= CUT && release(),
  });
  expect(result.sha256).toBe(SHA);
  expect(new Uint8Array(await readFile(dest))).toEqual(DATA);
  expect(seen.map((s) => [s.range, s.ifRange])).toEqual([
    [null, null],
    [`bytes=${CUT}-`, ETAG],
  ]);
  expect(await readdir(dir)).toEqual(["tiny.gguf"]);
});

test("a partial file left by an earlier failed call is resumed by the next one", async () => {
  const dir = await tempDir();
  const CUT = 50_000;
  const { release, released } = releaser();
  const { url, seen } = serve((req, n) => (n === 1 ? cutAfter(DATA.slice(0, CUT), released) : ranged(req)));
  const dest = join(dir, "tiny.gguf");
  const first = await downloadModel({ url, dest, attempts: 1, progressIntervalMs: 0, clock: new SimClock(), onProgress: (p) => p.bytes_done >= CUT && release() }).catch((e) => e);
  expect(first).toBeInstanceOf(DownloadFailed);
  expect(first.status).toBeUndefined();
  expect(first.message).toContain(`connection lost after ${CUT} bytes`);
  expect((await readFile(`${dest}.part`)).length).toBe(CUT);

  const second = await downloadModel({ url, dest, sha256: SHA });
  expect(second).toEqual({ path: dest, bytes: DATA.length, sha256: SHA });
  expect(seen[1]!.range).toBe(`bytes=${CUT}-`);
  expect(await readdir(dir)).toEqual(["tiny.gguf"]);
});

test("a server that ignores Range sends the whole file again and the result still verifies", async () => {
  const dir = await tempDir();
  const dest = join(dir, "tiny.gguf");
  await writeFile(`${dest}.part`, DATA.slice(0, 1234));
  const { url, seen } = serve(() => new Response(DATA));
  const result = await downloadModel({ url, dest, sha256: SHA });
  expect(result.bytes).toBe(DATA.length);
  expect(new Uint8Array(await readFile(dest))).toEqual(DATA);
  expect(seen[0]!.range).toBe("bytes=1234-");
});

test("a file changed upstream (If-Range no longer matches) restarts from zero", async () => {
  const dir = await tempDir();
  const dest = join(dir, "tiny.gguf");
  await writeFile(`${dest}.part`, new Uint8Array(5000).fill(9)); // bytes of an older version
  const { url, seen } = serve(ranged);
  await writeFile(`${dest}.part.json`, JSON.stringify({ url, validator: '"old"' }));
  const result = await downloadModel({ url, dest, sha256: SHA });
  expect(result.sha256).toBe(SHA);
  expect(seen).toEqual([{ range: "bytes=5000-", ifRange: '"old"', auth: null, encoding: "identity" }]);
});

test("a partial file that is already complete finishes on 416 without a body", async () => {
  const dir = await tempDir();
  const dest = join(dir, "tiny.gguf");
  await writeFile(`${dest}.part`, DATA);
  const { url, seen } = serve(ranged);
  const result = await downloadModel({ url, dest, sha256: SHA });
  expect(result).toEqual({ path: dest, bytes: DATA.length, sha256: SHA });
  expect(seen).toHaveLength(1);
});

test("a connection dropped before any byte arrives is not retried in a loop", async () => {
  const dir = await tempDir();
  const { url, seen } = serve(() => new Response(new ReadableStream({ pull: (c) => c.error() })));
  const error = await downloadModel({ url, dest: join(dir, "tiny.gguf") }).catch((e) => e);
  expect(error).toBeInstanceOf(DownloadFailed);
  expect(seen).toHaveLength(1);
});

test("HTTP errors are typed with the status, and neither the token nor signed query parameters leak", async () => {
  const dir = await tempDir();
  const TOKEN = "hf_secretsecretsecret";
  const { url, seen } = serve((req) => new Response(`denied for ${req.headers.get("authorization")}`, { status: 403, statusText: "Forbidden" }));
  const withUser = url.replace("http://", "http://user:pw@");
  const error = await downloadModel({ url: `${withUser}?X-Amz-Signature=abc123`, dest: join(dir, "tiny.gguf"), token: TOKEN }).catch((e) => e);
  expect(error).toBeInstanceOf(DownloadFailed);
  expect(error.status).toBe(403);
  expect(error.message).toContain("HTTP 403");
  expect(error.message).toContain("/models/tiny.gguf?…");
  expect(error.message).not.toContain(TOKEN);
  expect(error.message).not.toContain("abc123");
  expect(error.message).not.toContain("pw@");
  expect(seen[0]!.auth).toBe(`Bearer ${TOKEN}`);
  expect(await readdir(dir)).toEqual([]);
});

test("a 404 fails without retrying", async () => {
  const dir = await tempDir();
  const { url, seen } = serve(() => new Response("Entry not found", { status: 404 }));
  const error = await downloadModel({ url, dest: join(dir, "tiny.gguf") }).catch((e) => e);
  expect(error).toBeInstanceOf(DownloadFailed);
  expect(error.status).toBe(404);
  expect(error.message).toContain("Entry not found");
  expect(seen).toHaveLength(1);
});

test("aborting keeps the partial file for a later resume", async () => {
  const dir = await tempDir();
  const CUT = 40_000;
  const { released } = releaser();
  const { url } = serve(() => cutAfter(DATA.slice(0, CUT), released));
  const controller = new AbortController();
  const dest = join(dir, "tiny.gguf");
  const reason = new Error("pool stopped");
  const error = await downloadModel({
    url,
    dest,
    signal: controller.signal,
    progressIntervalMs: 0,
    clock: new SimClock(),
    onProgress: (p) => p.bytes_done >= CUT && controller.abort(reason),
  }).catch((e) => e);
  expect(error).toBe(reason);
  expect((await readFile(`${dest}.part`)).length).toBe(CUT);
});
