// A pool whose local model file is missing, on simulated time: it starts no engine and counts no
// crash, says why (snapshot and health `last_error`), and a preload or reload starts it once the
// file is there. A file that goes away under a running pool parks the engine instead of a
// restart loop that would open the circuit breaker.

import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPoolFixture, terminal, type PoolFixture } from "../../../tests/fixtures/pool-tree.ts";

const dir = mkdtempSync(join(tmpdir(), "pool-model-missing-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fx: PoolFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const ask = (f: PoolFixture, msg: { type: "preload" } | { type: "reload"; model: string; drain_deadline_ms: number }) =>
  f.pool.ask(msg, { timeoutMs: 600_000 }).then((r) => r.reply);

test("a missing model file: no engine, not ready with the reason, never restarted; a preload starts it once the file is there", async () => {
  const file = join(dir, "later.gguf");
  fx = await startPoolFixture({ engine: "mock-server", model: file, modelFiles: { baseDir: dir } });
  const reason = `model file ${file} does not exist`;
  expect(fx.engines).toHaveLength(0);
  expect(fx.replicaAlive()).toBe(false);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: false, draining: false, last_error: reason });
  expect(await fx.pool.ask({ type: "health" })).toMatchObject({ live: false, ready: false, draining: false, last_error: reason });
  expect((await fx.dispatch("refused"))[0]).toMatchObject({ type: "engine-error", error: { code: "POOL_UNAVAILABLE" } });
  // Nothing retries behind the operator's back: no crash loop, no breaker.
  await fx.clock.advance(600_000);
  expect(fx.engines).toHaveLength(0);

  // Still missing: the preload fails with the reason, and the engine is not restarted after it.
  const asked = ask(fx, { type: "preload" });
  await fx.clock.flush();
  const failed = await asked;
  expect(failed).toMatchObject({ ok: false, reason: "preload_failed", error: { code: "POOL_UNREADY" } });
  expect(failed.ok === false && failed.error.message).toContain(reason);
  await fx.clock.advance(600_000);
  expect(fx.replicaAlive()).toBe(false);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: false });

  writeFileSync(file, "GGUF");
  const ok = ask(fx, { type: "preload" });
  await fx.clock.flush();
  expect(await ok).toMatchObject({ ok: true, already: false, model: file });
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true, draining: false });
  expect((await fx.pool.ask({ type: "health" })).last_error).toBeUndefined();
  expect(terminal(await fx.dispatch("served", 2))).toMatchObject({ type: "engine-end", tokens_out: 2 });
});

test("a reload to a file that exists brings a pool with a missing model up", async () => {
  const there = join(dir, "there.gguf");
  writeFileSync(there, "GGUF");
  fx = await startPoolFixture({ engine: "mock-server", model: join(dir, "absent.gguf"), modelFiles: { baseDir: dir } });
  expect(fx.engines).toHaveLength(0);
  const reloaded = ask(fx, { type: "reload", model: there, drain_deadline_ms: 1000 });
  await fx.clock.flush();
  expect(await reloaded).toMatchObject({ ok: true, unchanged: false, model: there });
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true, draining: false, models_available: [there] });
  expect(terminal(await fx.dispatch("served", 2))).toMatchObject({ type: "engine-end", tokens_out: 2 });
});

test("a model file removed under a running pool: its engine is parked, not restarted into an open breaker", async () => {
  const file = join(dir, "vanishing.gguf");
  writeFileSync(file, "GGUF");
  fx = await startPoolFixture({ engine: "mock-server", model: file, modelFiles: { baseDir: dir } });
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true });
  rmSync(file);
  fx.engines[0]!.faults.crashAfterTokens = 1;
  await fx.dispatch("boom", 3);
  await fx.clock.advance(600_000);
  expect(fx.engines).toHaveLength(1); // never restarted: no backoff loop, no breaker
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: false, last_error: `model file ${file} does not exist` });

  writeFileSync(file, "GGUF");
  const ok = ask(fx, { type: "preload" });
  await fx.clock.flush();
  expect(await ok).toMatchObject({ ok: true, model: file });
  expect(fx.engines).toHaveLength(2);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true });
});

test("without the check (handoffs) or for engines that load no file, a path-like model is not checked", async () => {
  fx = await startPoolFixture({ engine: "mock", model: join(dir, "absent.gguf"), modelFiles: { baseDir: dir } });
  expect(fx.engines).toHaveLength(1); // the in-process mock engine was started; it reports its own error
  await fx.close();
  fx = await startPoolFixture({ engine: "mock-server", model: join(dir, "absent.gguf") });
  expect(fx.engines.length).toBeGreaterThan(0);
});

test("the machine: a preload of a pool that runs no replica starts one (an operation, not a wait)", async () => {
  const { step } = await import("./operation-machine.ts");
  const { initialState } = await import("./operation-state.ts");
  const config = { nodeId: "n1", poolId: "p0", readyTimeoutMs: 2000 };
  const given = initialState("/m/x.gguf", "model file /m/x.gguf does not exist", true);
  const started = step(given, { type: "preload", asker: 4 }, { now: 0, leases: 0, config });
  expect(started.state.op).toMatchObject({ kind: "preload", phase: "starting" });
  expect(started.effects).toContainEqual({ type: "start-replica", op: 1, model: "/m/x.gguf" });
  const ready = step(started.state, { type: "replica-status", ready: true, engine_version: "v1" }, { now: 10, leases: 0, config });
  expect(ready.state).toMatchObject({ ready: true, stopped: false, draining: false, op: null, lastError: undefined });
  // A pool with a replica (restarting) is waited for instead.
  const waiting = step(initialState("tiny"), { type: "preload", asker: 4 }, { now: 0, leases: 0, config });
  expect(waiting.state.op).toBeNull();
  expect(waiting.effects).toContainEqual({ type: "restart-now" });
});
