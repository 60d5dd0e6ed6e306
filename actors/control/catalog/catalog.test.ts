// The catalog actor over a real state store in a temp directory: entries durable across
// restarts, lifecycle and its metrics, trust refusal at ingest, verification against real files (pass, mismatch, missing),
// and that hashing runs aside: the actor answers while a verify waits on a slow hash.

import { afterEach, beforeEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActorSystem, createLogger, SimClock, type ActorRef } from "../../../runtime/index.ts";
import { openSqliteStore, type SqliteStateStore } from "../../../adapters/storage/sqlite-store.ts";
import { hashConfinedFile } from "../../../adapters/storage/confined-hash.ts";
import { catalogActor, type CatalogOptions } from "./catalog.ts";
import type { CatalogMsg, CatalogReplies, LifecycleChange } from "./protocol.ts";

let dir: string;
let system: ActorSystem | undefined;
let store: SqliteStateStore | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "catalog-"));
});
afterEach(async () => {
  await system?.shutdown();
  await store?.close();
  system = undefined;
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** An entry as committed to the store (what a restarted control plane loads). */
const stored = (id: string) => {
  const row = store!.reader.query<{ doc: string }, [string]>("SELECT doc FROM catalog_models WHERE id = ?").get(id);
  return row ? JSON.parse(row.doc) : undefined;
};

const sha = (data: string | Uint8Array) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

async function start(extra: Partial<CatalogOptions> = {}, path = "control/catalog") {
  const clock = new SimClock(1_000_000);
  system ??= new ActorSystem({ name: "catalog-test", clock });
  store ??= await openSqliteStore({ dir: join(dir, "state"), retention: { maxAgeMs: 1e12, maxBytes: 1e12, intervalMs: 0 } });
  const calls: string[] = [];
  const changes: LifecycleChange[] = [];
  const logs: string[] = [];
  const catalog: ActorRef<CatalogMsg, CatalogReplies> = await system.spawn<CatalogMsg, CatalogReplies>(
    path,
    catalogActor({
      store,
      baseDir: dir,
      log: createLogger({ clock: system.clock, sink: (l) => void logs.push(l) }),
      metrics: {
        verification: (result, reason) => void calls.push(`verify ${result} ${reason}`),
        modelState: (id, state) => void calls.push(`state ${id} ${state}`),
        modelRemoved: (id) => void calls.push(`removed ${id}`),
      },
      onLifecycle: (c) => void changes.push(c),
      ...extra,
    }),
  );
  return { catalog, calls, changes, logs, clock: system.clock as SimClock };
}

test("entries survive a restart: every change is committed to the store and loaded at init", async () => {
  const model = join(dir, "m.gguf");
  writeFileSync(model, "weights");
  const { catalog, calls, changes } = await start();
  const created = await catalog.ask({ type: "create", model: { id: "tiny", digest: sha("weights"), source_url: model, tags: ["q4"] } });
  expect(created).toMatchObject({ ok: true, value: { created: true, model: { id: "tiny", lifecycle: "Active", tags: ["q4"], created_ms: 1_000_000 } } });
  expect(await catalog.ask({ type: "set-state", id: "tiny", state: "Retired", deadline_ms: 5000 })).toEqual({
    ok: true,
    value: { id: "tiny", state: "Retired", previous: "Active", changed: true, deadline_ms: 5000 },
  });
  expect(calls).toEqual(["state tiny Active", "state tiny Retired"]);
  expect(changes).toEqual([{ model_id: "tiny", state: "Active" }, { model_id: "tiny", state: "Retired", deadline_ms: 5000 }]);

  expect(stored("tiny")).toMatchObject({ id: "tiny", lifecycle: "Retired", digest: sha("weights") });

  await system!.shutdown();
  await store!.close();
  system = undefined;
  store = undefined;
  const again = await start();
  expect(again.calls).toEqual(["state tiny Retired"]); // the gauge is set for loaded entries
  expect(again.changes).toEqual([{ model_id: "tiny", state: "Retired" }]); // and admission hears it
  expect(await again.catalog.ask({ type: "lifecycle", model_id: "tiny" })).toBe("Retired");
  expect(await again.catalog.ask({ type: "lifecycle", model_id: "other" })).toBeUndefined();
  expect((await again.catalog.ask({ type: "list" })).map((m) => m.id)).toEqual(["tiny"]);
});

test("re-registering an id replaces it, keeps its lifecycle, and drops a verdict about another file", async () => {
  const a = join(dir, "a.bin");
  writeFileSync(a, "A");
  const { catalog, clock } = await start();
  await catalog.ask({ type: "create", model: { id: "m", digest: sha("A"), source_url: a } });
  await catalog.ask({ type: "set-state", id: "m", state: "Retired" });
  expect(await catalog.ask({ type: "verify", id: "m" })).toMatchObject({ ok: true, value: { result: "pass", reason: "digest_match" } });

  await clock.advance(10);
  const same = await catalog.ask({ type: "create", model: { id: "m", digest: sha("A"), source_url: a, tags: ["x"] } });
  expect(same).toMatchObject({ ok: true, value: { created: false, model: { lifecycle: "Retired", tags: ["x"], last_verify_result: "pass", created_ms: 1_000_000, updated_ms: 1_000_010 } } });
  const other = await catalog.ask({ type: "create", model: { id: "m", source_url: "b.bin" } });
  expect(other.ok && other.value.model.last_verified_ms).toBeUndefined();
  expect(other.ok && other.value.model.lifecycle).toBe("Retired");
});

test("verify: pass with warnings, mismatch names both digests, a missing file fails; metrics count each", async () => {
  const path = join(dir, "model.gguf");
  writeFileSync(path, "real weights");
  const { catalog, calls, clock } = await start();
  await catalog.ask({ type: "create", model: { id: "good", digest: sha("real weights"), source_url: `file://${path}` } });
  await catalog.ask({ type: "create", model: { id: "bad", digest: sha("other"), source_url: "model.gguf" } });
  await catalog.ask({ type: "create", model: { id: "gone", digest: sha("x"), source_url: join(dir, "nope.gguf") } });
  await catalog.ask({ type: "create", model: { id: "remote", source_url: "hf:org/repo/file.gguf" } });
  await catalog.ask({ type: "create", model: { id: "nodigest", source_url: path } });
  await clock.advance(500);

  expect(await catalog.ask({ type: "verify", id: "good" })).toEqual({
    ok: true,
    value: {
      id: "good",
      result: "pass",
      reason: "digest_match",
      expected_digest: sha("real weights"),
      actual_digest: sha("real weights"),
      detail: undefined,
      warnings: ["no verified signature", "no SBOM"],
      last_verified_ms: 1_000_500,
    },
  });
  const bad = await catalog.ask({ type: "verify", id: "bad" });
  expect(bad).toEqual({
    ok: false,
    error: {
      code: "UNTRUSTED_ARTIFACT",
      message: `model bad: digest mismatch: expected ${sha("other")}, actual ${sha("real weights")}`,
      id: "bad",
      expected_digest: sha("other"),
      actual_digest: sha("real weights"),
    },
  });
  expect(await catalog.ask({ type: "get", id: "bad" })).toMatchObject({ last_verify_result: "fail", last_verify_reason: "digest_mismatch", last_verified_ms: 1_000_500 });
  expect(await catalog.ask({ type: "verify", id: "gone" })).toMatchObject({ ok: true, value: { result: "fail", reason: "file_missing", detail: expect.stringContaining("nope.gguf") } });
  expect(await catalog.ask({ type: "verify", id: "remote" })).toMatchObject({ ok: true, value: { result: "fail", reason: "file_missing" } });
  expect(await catalog.ask({ type: "verify", id: "nodigest" })).toMatchObject({
    ok: true,
    value: { result: "pass", reason: "no_digest", actual_digest: sha("real weights"), warnings: expect.arrayContaining(["no expected digest provided; proceeding with warnings"]) },
  });
  expect(await catalog.ask({ type: "verify", id: "unknown" })).toEqual({ ok: false, error: { code: "NOT_FOUND", message: "model unknown not found" } });
  expect(calls.filter((c) => c.startsWith("verify"))).toEqual([
    "verify pass digest_match",
    "verify fail digest_mismatch",
    "verify fail file_missing",
    "verify fail file_missing",
    "verify pass no_digest",
  ]);
  // Verdicts are durable too.
  expect(stored("bad").last_verify_result).toBe("fail");
});

/** A hash that waits until the test opens the gate, then hashes the real (regular) file. */
function gatedHash() {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let calls = 0;
  const hashFile: CatalogOptions["hashFile"] = async (path, limits) => {
    calls++;
    await gate;
    return hashConfinedFile(path, limits);
  };
  return { hashFile, open: () => open(), calls: () => calls };
}

test("the actor keeps answering while a verify waits on a slow file; concurrent verifies share one hash", async () => {
  const file = join(dir, "slow.gguf");
  writeFileSync(file, "hello");
  const slow = gatedHash();
  const { catalog, calls } = await start({ hashFile: slow.hashFile });
  await catalog.ask({ type: "create", model: { id: "slow", digest: sha("hello"), source_url: file } });

  const first = catalog.ask({ type: "verify", id: "slow" });
  const second = catalog.ask({ type: "verify", id: "slow" });
  let settled = false;
  void Promise.all([first, second]).then(() => (settled = true));
  expect(await catalog.ask({ type: "lifecycle", model_id: "slow" })).toBe("Active");
  expect((await catalog.ask({ type: "get", id: "slow" }))?.last_verified_ms).toBeUndefined();
  expect(settled).toBe(false);

  slow.open();
  const [a, b] = await Promise.all([first, second]);
  expect(a).toMatchObject({ ok: true, value: { result: "pass", reason: "digest_match" } });
  expect(b).toEqual(a);
  expect(slow.calls()).toBe(1);
  expect(calls.filter((c) => c.startsWith("verify"))).toEqual(["verify pass digest_match"]);
});

test("a model deleted while its hash runs answers NOT_FOUND; delete and set-state of unknown ids are NOT_FOUND", async () => {
  const file = join(dir, "m.gguf");
  writeFileSync(file, "x");
  const slow = gatedHash();
  const { catalog, calls, changes } = await start({ hashFile: slow.hashFile });
  await catalog.ask({ type: "create", model: { id: "m", source_url: file } });
  const pending = catalog.ask({ type: "verify", id: "m" });
  expect(await catalog.ask({ type: "delete", id: "m" })).toEqual({ ok: true, value: undefined });
  slow.open();
  expect(await pending).toEqual({ ok: false, error: { code: "NOT_FOUND", message: "model m not found" } });
  expect(await catalog.ask({ type: "delete", id: "m" })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
  expect(await catalog.ask({ type: "set-state", id: "m", state: "Active" })).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
  expect(calls).toEqual(["state m Active", "removed m"]);
  expect(changes.at(-1)).toEqual({ model_id: "m", state: "Deleted" });
});

test("setting the current state again changes nothing and tells nobody", async () => {
  const { catalog, calls, changes } = await start();
  await catalog.ask({ type: "create", model: { id: "m" } });
  expect(await catalog.ask({ type: "set-state", id: "m", state: "Active" })).toEqual({ ok: true, value: { id: "m", state: "Active", previous: "Active", changed: false, deadline_ms: undefined } });
  expect(calls).toEqual(["state m Active"]);
  expect(changes).toHaveLength(1);
});

test("strict trust refuses unsigned models at ingest; a verified signature, or permissive, is accepted", async () => {
  const { catalog, logs } = await start({ trustPolicy: { mode: "permissive" } });
  const sig = { signer: "ops", algo: "ed25519", verified: true, timestamp_ms: 1 };
  expect(await catalog.ask({ type: "create", model: { id: "u" }, trust: "strict" })).toMatchObject({
    ok: false,
    error: { code: "UNTRUSTED_ARTIFACT", message: expect.stringContaining("verified signature") },
  });
  expect(await catalog.ask({ type: "create", model: { id: "u2", trust_policy: { mode: "strict" } } })).toMatchObject({ ok: false, error: { code: "UNTRUSTED_ARTIFACT" } });
  expect(await catalog.ask({ type: "get", id: "u" })).toBeUndefined();
  expect(logs.some((l) => l.includes("Refused untrusted model u"))).toBe(true);
  expect((await catalog.ask({ type: "create", model: { id: "s", signatures: [sig] }, trust: "strict" })).ok).toBe(true);
  expect((await catalog.ask({ type: "create", model: { id: "p" } })).ok).toBe(true);
});

test("a configured strict policy applies to every entry unless the entry relaxes it", async () => {
  const { catalog } = await start({ trustPolicy: { mode: "strict", require_sbom: true } });
  const sig = { signer: "ops", algo: "ed25519", verified: true, timestamp_ms: 1 };
  expect(await catalog.ask({ type: "create", model: { id: "a", signatures: [sig] } })).toMatchObject({ ok: false, error: { message: expect.stringContaining("SBOM") } });
  expect((await catalog.ask({ type: "create", model: { id: "b", signatures: [sig], sbom: { uri: "https://x/sbom.json" } } })).ok).toBe(true);
  expect((await catalog.ask({ type: "create", model: { id: "c", trust_policy: { mode: "permissive" } } })).ok).toBe(true);
});

test("a stored entry that is not a catalog entry refuses the start", async () => {
  await start();
  await store!.catalog.put("broken", { id: "other" });
  const failure = system!.events.next((e) => e.type === "failed");
  await start({}, "control/catalog2");
  expect(await failure).toMatchObject({ path: "control/catalog2", error: expect.stringContaining('invalid stored entry "broken"') });
  expect(system!.isAlive("control/catalog2")).toBe(false);
});

test("a failed write answers INTERNAL and changes nothing", async () => {
  const { catalog } = await start();
  await catalog.ask({ type: "create", model: { id: "kept" } });
  await store!.close(); // every later write fails
  expect(await catalog.ask({ type: "create", model: { id: "new" } })).toEqual({ ok: false, error: { code: "INTERNAL", message: "could not write the catalog index" } });
  expect(await catalog.ask({ type: "get", id: "new" })).toBeUndefined();
  expect((await catalog.ask({ type: "set-state", id: "kept", state: "Retired" })).ok).toBe(false);
  expect(await catalog.ask({ type: "lifecycle", model_id: "kept" })).toBe("Active");
});
