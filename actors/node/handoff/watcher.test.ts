// The handoff watcher on simulated time over a real temporary directory: files bind once and are
// deleted (or kept), bad files are reported once until they change, bind failures retry on change,
// each outcome is counted, and the watcher answers while a bind is in progress.

import { afterEach, expect, test } from "bun:test";
import { mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActorSystem, createLogger, SimClock } from "../../../runtime/index.ts";
import { createNodeMetrics, parseExposition, type NodeMetrics } from "../../../adapters/metrics/index.ts";
import type { Handoff } from "./parse.ts";
import type { HandoffBind, HandoffWatcherMsg, HandoffWatcherRef, HandoffWatcherReplies } from "./protocol.ts";
import { handoffWatcher, type HandoffWatcherOptions } from "./watcher.ts";

const INTERVAL = 1000;
let system: ActorSystem | undefined;
let root: string | undefined;

afterEach(async () => {
  await system?.shutdown();
  system = undefined;
  if (root) await rm(root, { recursive: true, force: true });
  root = undefined;
});

type BindResult = Awaited<ReturnType<HandoffBind>>;

async function setup(options: Partial<HandoffWatcherOptions> & { result?: (h: Handoff) => BindResult | Promise<BindResult>; subdir?: string } = {}) {
  root = await mkdtemp(join(tmpdir(), "handoff-"));
  const dir = join(root, options.subdir ?? "");
  const clock = new SimClock(5_000);
  system = new ActorSystem({ name: "handoff-test", clock });
  const lines: Array<{ level: string; msg: string; reason?: string; file?: string }> = [];
  const log = createLogger({ clock, sink: (l) => lines.push(JSON.parse(l)) });
  const metrics = createNodeMetrics();
  const binds: Handoff[] = [];
  const bind: HandoffBind = async (h) => {
    binds.push(h);
    return options.result ? options.result(h) : { ok: true };
  };
  const start = async () => {
    const watcher: HandoffWatcherRef = await system!.spawn<HandoffWatcherMsg, HandoffWatcherReplies>(
      "node/handoff",
      handoffWatcher({ dir, nodeId: "n1", intervalMs: INTERVAL, log, metrics, bind, ...options }),
    );
    await watcher.ask({ type: "settle" });
    return watcher;
  };
  /** Written the way provisioners do: a temporary file renamed into place. */
  const put = async (name: string, content: unknown) => {
    const tmp = join(dir, `.${name}.tmp`);
    await writeFile(tmp, typeof content === "string" ? content : JSON.stringify(content));
    await rename(tmp, join(dir, name));
  };
  const files = async () => (await readdir(dir)).sort();
  /** One poll interval, then wait for the scan it started. */
  const poll = async (watcher: HandoffWatcherRef) => {
    await clock.advance(INTERVAL);
    return watcher.ask({ type: "settle" });
  };
  return { dir, clock, lines, metrics, binds, start, put, files, poll };
}

async function processed(metrics: NodeMetrics) {
  const { samples } = parseExposition(await metrics.registry.metrics());
  const out: Record<string, number> = {};
  for (const s of samples) if (s.name === "pool_handoff_files_processed_total" && s.labels.node_id === "n1") out[`${s.labels.pool_id}/${s.labels.outcome}`] = s.value;
  return out;
}

async function durations(metrics: NodeMetrics, poolId: string) {
  const { samples } = parseExposition(await metrics.registry.metrics());
  const pick = (name: string) => samples.find((s) => s.name === name && s.labels.pool_id === poolId && s.labels.node_id === "n1")?.value;
  return { count: pick("pool_handoff_processing_duration_ms_count"), sum: pick("pool_handoff_processing_duration_ms_sum") };
}

const P1 = { engine: "llamacpp", url: "http://127.0.0.1:8081", pool_id: "p1", replica_id: "r0", model: { path: "/models/tiny.gguf" }, slots_total: 2 };

test("a valid file is picked up within one interval, bound once, deleted and narrated", async () => {
  const t = await setup();
  const watcher = await t.start();
  await t.put("p1-r0.json", P1);
  await t.clock.advance(INTERVAL - 1);
  expect((await watcher.ask({ type: "settle" })).bound).toEqual([]);
  expect(t.binds).toHaveLength(0);

  await t.clock.advance(1);
  const s = await watcher.ask({ type: "settle" });
  expect(t.binds).toHaveLength(1);
  expect(t.binds[0]).toMatchObject({ key: "p1:r0", url: "http://127.0.0.1:8081", model_id: "tiny.gguf", slots_total: 2 });
  expect(s.bound).toEqual([{ key: "p1:r0", pool_id: "p1", replica_id: "r0", url: "http://127.0.0.1:8081", model_id: "tiny.gguf", file: "p1-r0.json", bound_at_ms: 6_000 }]);
  expect(await t.files()).toEqual([]);
  expect(t.lines.filter((l) => l.msg === "Bound engine at http://127.0.0.1:8081 as pool p1")).toHaveLength(1);

  await t.poll(watcher);
  await t.poll(watcher);
  expect(t.binds).toHaveLength(1);
  expect(await processed(t.metrics)).toEqual({ "p1/bound": 1 });
  expect((await durations(t.metrics, "p1")).count).toBe(1);
});

test("a new file for a bound pool is ignored with a warning, counted duplicate once and kept", async () => {
  const t = await setup();
  await t.put("p1-r0.json", P1);
  const watcher = await t.start();
  expect(t.binds).toHaveLength(1);

  await t.put("p1-r0.json", { ...P1, url: "http://127.0.0.1:9999" });
  const s = await t.poll(watcher);
  await t.poll(watcher);
  expect(t.binds).toHaveLength(1);
  expect(s.bound[0]!.url).toBe("http://127.0.0.1:8081");
  expect(s.errors).toEqual([{ file: "p1-r0.json", outcome: "duplicate", reason: expect.stringContaining("p1:r0 is already bound"), at_ms: 6_000 }]);
  expect(await t.files()).toEqual(["p1-r0.json"]);
  expect(t.lines.filter((l) => l.level === "warn" && l.msg.startsWith("Ignored handoff p1-r0.json"))).toHaveLength(1);
  expect(await processed(t.metrics)).toEqual({ "p1/bound": 1, "p1/duplicate": 1 });
});

test("autoDelete off keeps the file without rebinding it; after a release it binds again", async () => {
  const t = await setup({ autoDelete: false });
  await t.put("p1-r0.json", P1);
  const watcher = await t.start();
  for (let i = 0; i < 3; i++) await t.poll(watcher);
  expect(t.binds).toHaveLength(1);
  expect(await t.files()).toEqual(["p1-r0.json"]);
  expect(await processed(t.metrics)).toEqual({ "p1/bound": 1 });

  expect(await watcher.ask({ type: "release", pool_id: "p1", replica_id: "r0" })).toEqual({ released: true });
  expect(await watcher.ask({ type: "release", pool_id: "p1", replica_id: "r0" })).toEqual({ released: false });
  expect((await watcher.ask({ type: "status" })).bound).toEqual([]);
  await t.poll(watcher);
  expect(t.binds).toHaveLength(2);
  expect(await processed(t.metrics)).toEqual({ "p1/bound": 2 });
});

test("invalid files are counted and logged once with their reason, and processed again when they change", async () => {
  const t = await setup();
  await t.put("p1-r0.json", "{ half a file");
  await t.put("p2-r0.json", { pool_id: "p2", url: "localhost:8081" });
  await t.put("p3-r0.json", { pool_id: "p3", replica_id: "r1", url: "http://127.0.0.1:8083" });
  const watcher = await t.start();
  for (let i = 0; i < 3; i++) await t.poll(watcher);

  expect(t.binds).toHaveLength(0);
  expect(await processed(t.metrics)).toEqual({ "/invalid": 1, "p2/invalid": 1, "p3/invalid": 1 });
  const warned = t.lines.filter((l) => l.level === "warn").map((l) => l.reason);
  expect(warned).toHaveLength(3);
  expect(warned[0]).toStartWith("p1-r0.json: <root>: not valid JSON");
  expect(warned[1]).toStartWith("p2-r0.json: url: must be an http(s) URL");
  expect(warned[2]).toBe("p3-r0.json: file: the file name must be '<pool_id>-<replica_id>.json', 'p3-r1.json' for this content");
  const s = await watcher.ask({ type: "status" });
  expect(s.errors.map((e) => [e.file, e.outcome])).toEqual([
    ["p1-r0.json", "invalid"],
    ["p2-r0.json", "invalid"],
    ["p3-r0.json", "invalid"],
  ]);
  expect(await t.files()).toEqual(["p1-r0.json", "p2-r0.json", "p3-r0.json"]);

  // The writer finishes the first file; the third is removed: its error goes with it.
  await t.put("p1-r0.json", P1);
  await rm(join(t.dir, "p3-r0.json"));
  const after = await t.poll(watcher);
  expect(t.binds.map((h) => h.key)).toEqual(["p1:r0"]);
  expect(after.errors.map((e) => e.file)).toEqual(["p2-r0.json"]);
  expect(await processed(t.metrics)).toEqual({ "/invalid": 1, "p2/invalid": 1, "p3/invalid": 1, "p1/bound": 1 });
});

test("a failed bind is counted and logged, keeps the file, and is retried only when the file changes", async () => {
  let refuse = true;
  const t = await setup({ result: () => (refuse ? { ok: false, reason: "engine at http://127.0.0.1:8081 does not answer /health" } : { ok: true }) });
  await t.put("p1-r0.json", P1);
  const watcher = await t.start();
  for (let i = 0; i < 3; i++) await t.poll(watcher);
  expect(t.binds).toHaveLength(1);
  expect(await t.files()).toEqual(["p1-r0.json"]);
  expect(await processed(t.metrics)).toEqual({ "p1/bind_failed": 1 });
  const errs = t.lines.filter((l) => l.level === "error");
  expect(errs.map((l) => l.msg)).toEqual(["Could not bind handoff p1-r0.json: engine at http://127.0.0.1:8081 does not answer /health"]);
  expect((await watcher.ask({ type: "status" })).errors).toMatchObject([{ file: "p1-r0.json", outcome: "bind_failed" }]);

  refuse = false;
  await t.put("p1-r0.json", { ...P1, slots_free: 2 });
  const s = await t.poll(watcher);
  expect(t.binds).toHaveLength(2);
  expect(s.bound.map((b) => b.key)).toEqual(["p1:r0"]);
  expect(s.errors).toEqual([]);
  expect(await t.files()).toEqual([]);
  expect(await processed(t.metrics)).toEqual({ "p1/bind_failed": 1, "p1/bound": 1 });
});

test("a bind that throws counts as bind_failed", async () => {
  const t = await setup({ result: () => Promise.reject(new Error("pool p1 exists in the node config")) });
  await t.put("p1-r0.json", P1);
  const watcher = await t.start();
  expect((await watcher.ask({ type: "status" })).errors).toMatchObject([{ outcome: "bind_failed", reason: "pool p1 exists in the node config" }]);
  expect(await processed(t.metrics)).toEqual({ "p1/bind_failed": 1 });
});

test("two files bind two pools", async () => {
  const t = await setup();
  await t.put("p1-r0.json", P1);
  await t.put("p2-r1.json", { url: "http://127.0.0.1:8082", pool_id: "p2", replica_id: "r1", device_mask: "0,1" });
  const watcher = await t.start();
  const s = await watcher.ask({ type: "status" });
  expect(s.bound.map((b) => [b.key, b.url])).toEqual([
    ["p1:r0", "http://127.0.0.1:8081"],
    ["p2:r1", "http://127.0.0.1:8082"],
  ]);
  expect(t.binds.find((h) => h.pool_id === "p2")?.devices).toEqual([0, 1]);
  expect(await t.files()).toEqual([]);
  expect(await processed(t.metrics)).toEqual({ "p1/bound": 1, "p2/bound": 1 });
  expect((await durations(t.metrics, "p2")).count).toBe(1);
});

test("the watcher answers while a bind is in progress; the processing time is observed", async () => {
  // Each bind waits until the test lets it go; `bindCalled` resolves with the release function.
  let called!: (release: () => void) => void;
  const nextBind = () => new Promise<() => void>((r) => (called = r));
  let bindCalled = nextBind();
  const t = await setup({
    result: () => new Promise<BindResult>((r) => called(() => r({ ok: true }))),
  });
  const watcher = await t.start();
  await t.put("p1-r0.json", P1);
  const scanned = watcher.ask({ type: "scan" }, { timeoutMs: 60_000 });
  let release = await bindCalled;
  bindCalled = nextBind();
  await t.clock.advance(300);
  const during = await watcher.ask({ type: "status" });
  expect(during).toMatchObject({ scanning: true, bound: [] });
  // A file written during a scan is not missed by a scan asked for meanwhile: it gets its own.
  await t.put("p2-r0.json", { ...P1, pool_id: "p2" });
  const rescanned = watcher.ask({ type: "scan" }, { timeoutMs: 60_000 });
  release();
  const s = await scanned;
  expect(s).toMatchObject({ scanning: true, bound: [{ key: "p1:r0" }] });
  expect(await durations(t.metrics, "p1")).toEqual({ count: 1, sum: 300 });
  release = await bindCalled;
  release();
  const again = await rescanned;
  expect(again).toMatchObject({ scanning: false, bound: [{ key: "p1:r0" }, { key: "p2:r0" }] });
});

test("a missing directory is nothing to do; files bind once it appears", async () => {
  const t = await setup({ subdir: "engines" });
  const watcher = await t.start();
  const s = await t.poll(watcher);
  expect(s).toMatchObject({ scans: 2, bound: [], errors: [] });
  expect(s.list_error).toBeUndefined();
  expect(t.lines.filter((l) => l.level !== "info")).toEqual([]);

  await Bun.$`mkdir -p ${t.dir}`.quiet();
  await t.put("p1-r0.json", P1);
  await watcher.ask({ type: "scan" });
  expect(t.binds.map((h) => h.key)).toEqual(["p1:r0"]);
});

test("a path that is not a directory is reported once as list_error", async () => {
  const t = await setup({ subdir: "engines" });
  await writeFile(t.dir, "not a directory");
  const watcher = await t.start();
  await t.poll(watcher);
  const s = await t.poll(watcher);
  expect(s.list_error).toContain("ENOTDIR");
  expect(t.lines.filter((l) => l.msg.startsWith("Cannot list the handoff directory"))).toHaveLength(1);
});
