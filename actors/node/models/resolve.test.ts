// resolveModel end to end against a temporary disk and a local HTTP server: local files (relative,
// file: URLs, missing), digests of local files (cached per size and mtime), the download policy
// switch, the model cache, hf: refs via hfBaseUrl, preparation steps, and digest failures.

import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { SimClock, type Clock } from "../../../runtime/index.ts";
import { ModelError } from "./ref.ts";
import { cachePath, createResolveMemo, defaultModelCache, modelSettings, prepProgress, resolveModel, type PrepStep, type ResolveOptions } from "./resolve.ts";

const DATA = new Uint8Array(150_000).map((_, i) => (i * 31 + 7) % 253);
const SHA = createHash("sha256").update(DATA).digest("hex");

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "resolve-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Hit {
  path: string;
  auth: string | null;
}

function serve(respond: (req: Request) => Response = () => new Response(DATA)) {
  const hits: Hit[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      hits.push({ path: new URL(req.url).pathname, auth: req.headers.get("authorization") });
      return respond(req);
    },
  });
  cleanups.push(() => server.stop(true));
  return { base: `http://127.0.0.1:${server.port}`, hits };
}

async function setup(extra: Partial<ResolveOptions> = {}) {
  const root = await tempDir();
  const steps: PrepStep[] = [];
  const options: ResolveOptions = {
    baseDir: join(root, "config"),
    cacheDir: join(root, "cache"),
    allowDownloads: true,
    env: {},
    clock: new SimClock(),
    memo: createResolveMemo(),
    onStep: (s) => steps.push(s),
    ...extra,
  };
  await mkdir(options.baseDir, { recursive: true });
  return { root, steps, options };
}

async function failure(p: Promise<unknown>): Promise<ModelError & Record<string, unknown>> {
  const error = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(error).toBeInstanceOf(ModelError);
  return error;
}

describe("local files", () => {
  test("a relative path resolves against baseDir and reports one completed step", async () => {
    const { options, steps } = await setup();
    const path = join(options.baseDir, "models", "tiny.gguf");
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, DATA);
    const resolved = await resolveModel("models/tiny.gguf", options);
    expect(resolved).toEqual({ id: "models/tiny.gguf", ref: { kind: "file", path }, path, source: "local" });
    expect(steps.map((s) => [s.id, s.kind, s.group, s.status, s.bytes_total, s.bytes_done])).toEqual([
      ["model:models/tiny.gguf", "model_fetch", "model", "completed", DATA.length, DATA.length],
    ]);
  });

  test("file: URLs and file:relative work", async () => {
    const { options } = await setup();
    const path = join(options.baseDir, "tiny.gguf");
    await writeFile(path, DATA);
    expect((await resolveModel(`file://${path}`, options)).path).toBe(path);
    expect((await resolveModel("file:tiny.gguf", options)).path).toBe(path);
  });

  test("a missing file fails naming the path, with a failed step", async () => {
    const { options, steps } = await setup();
    const error = await failure(resolveModel("./nope.gguf", options));
    expect(error.code).toBe("MODEL_NOT_FOUND");
    expect(error.message).toContain(join(options.baseDir, "nope.gguf"));
    expect(steps.at(-1)).toMatchObject({ status: "failed", error: error.message });
  });

  test("a directory is not a model file", async () => {
    const { options } = await setup();
    await mkdir(join(options.baseDir, "dir.gguf"));
    expect((await failure(resolveModel("dir.gguf", options))).code).toBe("MODEL_NOT_FOUND");
  });

  test("a digest given for a local file is verified, and hashed once per size and mtime", async () => {
    const { options, steps } = await setup();
    const path = join(options.baseDir, "tiny.gguf");
    await writeFile(path, DATA);
    const mtime = new Date(1_700_000_000_000);
    await utimes(path, mtime, mtime);
    const ok = await resolveModel("tiny.gguf", { ...options, expectedSha256: `sha256:${SHA}` });
    expect(ok.sha256).toBe(SHA);
    const phases = steps.map((s) => `${s.phase}:${s.status}`);
    expect(phases[0]).toBe("verify:running");
    expect(new Set(phases.slice(0, -1))).toEqual(new Set(["verify:running"]));
    expect(phases.at(-1)).toBe("ready:completed");
    expect(steps.at(-2)).toMatchObject({ bytes_done: DATA.length, bytes_total: DATA.length });

    // Same bytes count and mtime: the node trusts its memory and does not read the file again.
    await writeFile(path, new Uint8Array(DATA.length));
    await utimes(path, mtime, mtime);
    expect((await resolveModel("tiny.gguf", { ...options, expectedSha256: SHA })).sha256).toBe(SHA);

    // A real change (new mtime) is hashed again and caught.
    await utimes(path, mtime, new Date(mtime.getTime() + 5000));
    const error = await failure(resolveModel("tiny.gguf", { ...options, expectedSha256: SHA }));
    expect(error.code).toBe("DIGEST_MISMATCH");
    expect(error.expected).toBe(SHA);
    expect(error.actual).toBe(createHash("sha256").update(new Uint8Array(DATA.length)).digest("hex"));
  });
});

describe("names", () => {
  test("a plain name resolves to itself with no file and no steps", async () => {
    const { options, steps } = await setup();
    expect(await resolveModel("tiny", options)).toEqual({ id: "tiny", ref: { kind: "name", name: "tiny" }, source: "name" });
    expect(steps).toEqual([]);
  });
  test("a digest for a name cannot be verified", async () => {
    const { options } = await setup();
    expect((await failure(resolveModel("tiny", { ...options, expectedSha256: SHA }))).code).toBe("INVALID_MODEL_REF");
  });
  test("unsupported schemes fail with a failed step", async () => {
    const { options, steps } = await setup();
    expect((await failure(resolveModel("s3://bucket/x.gguf", options))).code).toBe("UNSUPPORTED_MODEL_REF");
    expect(steps.at(-1)?.status).toBe("failed");
  });
});

describe("downloads", () => {
  test("are off by default: a clear error, no request, a failed step", async () => {
    const { base, hits } = serve();
    const { options, steps } = await setup({ allowDownloads: undefined, env: {} });
    const error = await failure(resolveModel(`${base}/m/tiny.gguf`, options));
    expect(error.code).toBe("DOWNLOADS_DISABLED");
    expect(error.message).toContain("downloads are disabled (set allow_downloads");
    expect(hits).toEqual([]);
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ id: `model:${base}/m/tiny.gguf`, status: "failed" });
  });

  test("an https:// ref downloads into the cache once, with pending → running → completed steps", async () => {
    const { base, hits } = serve();
    const { options, steps } = await setup({ hfToken: "hf_should_not_be_sent" });
    const ref = `${base}/m/tiny.gguf`;
    const first = await resolveModel(ref, { ...options, expectedSha256: SHA });
    const dest = cachePath(ref, options.cacheDir!);
    expect(dest).toStartWith(options.cacheDir!);
    expect(dest).toEndWith("/tiny.gguf");
    expect(first).toEqual({ id: ref, ref: { kind: "https", url: ref }, path: dest, sha256: SHA, source: "download" });
    expect(hits).toEqual([{ path: "/m/tiny.gguf", auth: null }]);
    expect(await readdir(dirname(dest))).toEqual(["tiny.gguf"]);

    const statuses = steps.map((s) => s.status);
    expect(statuses[0]).toBe("pending");
    expect(statuses.at(-1)).toBe("completed");
    expect(statuses.slice(1, -1).length).toBeGreaterThan(0);
    expect(new Set(statuses.slice(1, -1))).toEqual(new Set(["running"]));
    expect(steps.at(-1)).toMatchObject({ bytes_total: DATA.length, bytes_done: DATA.length, pct: 100, phase: "ready" });
    expect(steps.every((s) => s.id === `model:${ref}` && s.description.includes(dest))).toBe(true);

    steps.length = 0;
    const again = await resolveModel(ref, { ...options, expectedSha256: SHA });
    expect(again).toMatchObject({ path: dest, sha256: SHA, source: "cache" });
    expect(hits).toHaveLength(1);
    expect(steps.at(-1)?.status).toBe("completed");
  });

  test("the cache is used without the network even when downloads are off", async () => {
    const { base, hits } = serve();
    const { options } = await setup();
    const ref = `${base}/m/tiny.gguf`;
    await resolveModel(ref, options);
    expect(await resolveModel(ref, { ...options, allowDownloads: false })).toMatchObject({ source: "cache" });
    expect(hits).toHaveLength(1);
  });

  test("the policy and cache folder come from the environment when not given", async () => {
    const { base } = serve();
    const { options, root } = await setup({ allowDownloads: undefined, cacheDir: undefined, env: { POOL_MANAGERD_ALLOW_DOWNLOADS: "true", POOL_MANAGERD_MODEL_CACHE: join(await tempDir(), "envcache") } });
    const resolved = await resolveModel(`${base}/x.gguf`, options);
    expect(resolved.path).toStartWith(options.env!.POOL_MANAGERD_MODEL_CACHE!);
    expect(resolved.path!.startsWith(root)).toBe(false);
  });

  test("a digest mismatch fails with both digests, leaves no file in the cache and a failed step", async () => {
    const { base } = serve();
    const { options, steps } = await setup();
    const ref = `${base}/m/tiny.gguf`;
    const wrong = "ab".repeat(32);
    const error = await failure(resolveModel(ref, { ...options, expectedSha256: wrong }));
    expect(error.code).toBe("DIGEST_MISMATCH");
    expect(error).toMatchObject({ expected: wrong, actual: SHA });
    expect(await readdir(dirname(cachePath(ref, options.cacheDir!)))).toEqual([]);
    expect(steps.at(-1)).toMatchObject({ status: "failed", error: error.message });
  });

  test("a cached file that no longer matches the configured digest is fetched again", async () => {
    const { base, hits } = serve();
    const { options } = await setup();
    const ref = `${base}/m/tiny.gguf`;
    const dest = cachePath(ref, options.cacheDir!);
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest, "stale bytes");
    expect(await resolveModel(ref, { ...options, expectedSha256: SHA })).toMatchObject({ source: "download", sha256: SHA });
    expect(hits).toHaveLength(1);
    // With downloads off the stale file is a plain mismatch.
    await writeFile(dest, "stale bytes");
    expect((await failure(resolveModel(ref, { ...options, memo: createResolveMemo(), allowDownloads: false, expectedSha256: SHA }))).code).toBe("DIGEST_MISMATCH");
  });

  test("two pools resolving the same URL at once share one transfer", async () => {
    const { base, hits } = serve();
    const { options } = await setup();
    const ref = `${base}/m/tiny.gguf`;
    const [a, b] = await Promise.all([resolveModel(ref, options), resolveModel(ref, options)]);
    expect(a.path).toBe(b.path!);
    expect(hits).toHaveLength(1);
  });

  test("hf: refs fetch resolve/<revision>/<file> from hfBaseUrl with the HF token", async () => {
    const { base, hits } = serve();
    const { options } = await setup({ hfBaseUrl: base, hfToken: "hf_token_1234567890" });
    const resolved = await resolveModel("hf:org/repo@v2/sub/tiny.gguf", options);
    expect(hits).toEqual([{ path: "/org/repo/resolve/v2/sub/tiny.gguf", auth: "Bearer hf_token_1234567890" }]);
    expect(resolved).toMatchObject({ id: "hf:org/repo@v2/sub/tiny.gguf", source: "download", sha256: SHA });
    expect(resolved.path).toEndWith("/tiny.gguf");
  });

  test("a gated hf repository says to set HF_TOKEN", async () => {
    const { base } = serve(() => new Response("Access to model is restricted", { status: 401 }));
    const { options } = await setup({ hfBaseUrl: base });
    const error = await failure(resolveModel("hf:org/gated/x.gguf", options));
    expect(error.code).toBe("DOWNLOAD_FAILED");
    expect(error.message).toContain("HTTP 401");
    expect(error.message).toContain("set HF_TOKEN");
  });
});

describe("settings and progress", () => {
  test("modelSettings reads the policy switch strictly", () => {
    expect(modelSettings({})).toEqual({ cacheDir: defaultModelCache(), allowDownloads: false });
    expect(modelSettings({ POOL_MANAGERD_ALLOW_DOWNLOADS: "yes", POOL_MANAGERD_MODEL_CACHE: "/c", HF_TOKEN: " t " })).toEqual({ cacheDir: "/c", allowDownloads: true, hfToken: "t" });
    expect(modelSettings({ POOL_MANAGERD_ALLOW_DOWNLOADS: "0" }).allowDownloads).toBe(false);
    expect(() => modelSettings({ POOL_MANAGERD_ALLOW_DOWNLOADS: "maybe" })).toThrow("POOL_MANAGERD_ALLOW_DOWNLOADS must be true or false");
  });

  test("prepProgress gives the SSE prep entry with a readable line", () => {
    const step: PrepStep = {
      id: "model:x",
      kind: "model_fetch",
      group: "model",
      description: "download http://h/x.gguf to /c/x.gguf",
      estimated_ms: 12_300,
      bytes_total: 4 * 1024 * 1024,
      bytes_done: 1024 * 1024,
      status: "running",
      phase: "download",
      pct: 25,
    };
    expect(prepProgress(step)).toEqual({
      status: "running",
      bytes_total: 4 * 1024 * 1024,
      bytes_done: 1024 * 1024,
      pct: 25,
      phase: "download",
      human: "download http://h/x.gguf to /c/x.gguf: downloading 1.0 MiB / 4.0 MiB (25%), about 13 s left",
    });
  });

  test("estimated_ms comes from the measured rate while running and is 0 when done", async () => {
    // Every reading of this clock is 10 ms after the previous one, so some time always passes
    // between progress reports and the rate is never infinite.
    let t = 0;
    const clock: Clock = { now: () => (t += 10), setTimeout: () => ({ cancel() {} }), sleep: async () => {} };
    const { base } = serve();
    const { options, steps } = await setup({ clock, progressIntervalMs: 0 });
    await resolveModel(`${base}/x.gguf`, options);
    const midway = steps.filter((s) => s.status === "running" && s.bytes_done > 0 && s.bytes_done < s.bytes_total);
    expect(midway.length).toBeGreaterThan(0);
    for (const s of midway) expect(s.estimated_ms).toBeGreaterThan(0);
    expect(steps.at(-1)).toMatchObject({ status: "completed", estimated_ms: 0 });
  });
});
