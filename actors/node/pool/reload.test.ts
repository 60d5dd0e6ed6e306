// Reload on the node, on simulated time: an atomic model swap (drain → stop old → start new →
// ready), a rollback to the old model when the new engine cannot start or never gets ready, an
// abandoned reload when in-flight work outlives the drain deadline, and a drained pool brought back.

import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PoolReloadReply } from "../../../contract/link.ts";
import { startPoolFixture, terminal, type PoolFixture } from "../../../tests/fixtures/pool-tree.ts";

const dir = mkdtempSync(join(tmpdir(), "pool-reload-"));
const modelFile = join(dir, "new.gguf");
writeFileSync(modelFile, "GGUF");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fx: PoolFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** Starts a reload; the answer arrives while the test moves the clock. */
function reload(f: PoolFixture, model: string, drainMs = 5000) {
  let reply: PoolReloadReply | undefined;
  const done = f.pool.ask({ type: "reload", model, drain_deadline_ms: drainMs }, { timeoutMs: 600_000 }).then((r) => (reply = r.reply));
  return { done, current: () => reply };
}

test("a reload swaps the engine onto the new model and advertises it", async () => {
  fx = await startPoolFixture();
  const r = reload(fx, modelFile);
  await fx.clock.flush();
  expect(fx.snapshots.some((s) => s.draining && s.models_available[0] === "tiny")).toBe(true);
  const reply = await r.done;
  expect(reply).toEqual({ ok: true, node_id: "n1", pool_id: "p0", unchanged: false, previous_model: "tiny", model: modelFile, engine_version: "mock-1", duration_ms: 0 });
  expect(fx.engines.map((e) => e.model)).toEqual(["tiny", modelFile]);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true, draining: false, models_available: [modelFile] });
  expect(await fx.pool.ask({ type: "health" })).toMatchObject({ live: true, ready: true, model: modelFile });

  const run = await fx.dispatch("after", 3);
  expect(terminal(run)).toMatchObject({ type: "engine-end", tokens_out: 3 });
  expect(fx.engines[1]!.submitted).toEqual(["after"]);
});

test("in-flight work finishes on the old engine before the swap", async () => {
  fx = await startPoolFixture({ faults: { tokenDelayMs: 10 } });
  const running = await fx.dispatch("a", 5);
  const r = reload(fx, modelFile);
  await fx.clock.advance(20);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: false, draining: true });
  expect((await fx.dispatch("refused"))[0]).toMatchObject({ type: "engine-error", error: { code: "POOL_UNAVAILABLE" } });
  expect(fx.engines).toHaveLength(1);

  await fx.clock.advance(40);
  expect(terminal(running)).toMatchObject({ type: "engine-end", tokens_out: 5 });
  await r.done;
  expect(r.current()).toMatchObject({ ok: true, model: modelFile, duration_ms: 50 });
  expect(fx.engines).toHaveLength(2);
});

test("a new engine that cannot load its model rolls back to the old one", async () => {
  fx = await startPoolFixture();
  const missing = join(dir, "missing.gguf");
  const reply = await reload(fx, missing).done;
  expect(reply).toMatchObject({
    ok: false,
    reason: "rolled_back",
    previous_model: "tiny",
    model: "tiny",
    error: { code: "POOL_UNREADY", retriable: false, pool_id: "p0" },
  });
  expect(reply.ok === false && reply.error.message).toContain(`model file ${missing} does not exist`);
  expect(fx.engines.map((e) => e.model)).toEqual(["tiny", missing, "tiny"]);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true, draining: false, models_available: ["tiny"] });
  expect((await fx.pool.ask({ type: "health" })).last_error).toContain(`reload to ${missing} failed`);

  const run = await fx.dispatch("still-serving", 2);
  expect(terminal(run)).toMatchObject({ type: "engine-end", tokens_out: 2 });
  // The supervisor does not bring the failed model back later.
  await fx.clock.advance(10_000);
  expect(fx.engines.map((e) => e.model)).toEqual(["tiny", missing, "tiny"]);
});

test("a new engine that never gets ready is rolled back after the ready timeout", async () => {
  fx = await startPoolFixture({ readyTimeoutMs: 2000, faultsFor: { slow: { unready: true } } });
  const r = reload(fx, "slow");
  await fx.clock.advance(1999);
  expect(r.current()).toBeUndefined();
  expect(await fx.pool.ask({ type: "health" })).toMatchObject({ live: true, ready: false, draining: true, operation: "reload" });
  await fx.clock.advance(1);
  const reply = await r.done;
  expect(reply).toMatchObject({ ok: false, reason: "rolled_back", error: { code: "POOL_UNREADY" } });
  expect(reply.ok === false && reply.error.message).toContain("did not become ready within 2000 ms");
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true, models_available: ["tiny"] });
});

test("when the old model cannot come back either, the reload says so and the pool is not ready", async () => {
  const fragile = join(dir, "fragile.gguf");
  writeFileSync(fragile, "GGUF");
  fx = await startPoolFixture({ model: fragile });
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true, models_available: [fragile] });
  rmSync(fragile);
  const reply = await reload(fx, join(dir, "absent.gguf")).done;
  expect(reply).toMatchObject({ ok: false, reason: "rollback_failed", model: fragile, error: { code: "POOL_UNREADY", retriable: true } });
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: false, draining: false, models_available: [fragile] });
});

test("in-flight work past the drain deadline abandons the reload; the old engine never stopped", async () => {
  fx = await startPoolFixture({ faults: { tokenDelayMs: 10, hangAfterTokens: 1 } });
  const stuck = await fx.dispatch("stuck", 10);
  const r = reload(fx, modelFile, 300);
  await fx.clock.advance(300);
  expect(await r.done).toMatchObject({ ok: false, reason: "drain_timeout", model: "tiny", error: { code: "DEADLINE_UNMET", retriable: true } });
  expect(fx.engines).toHaveLength(1);
  expect(terminal(stuck)).toBeUndefined();
  expect(fx.snapshots.at(-1)).toMatchObject({ draining: false, models_available: ["tiny"] });
  expect(await fx.pool.ask({ type: "health" })).toMatchObject({ live: true, draining: false, active_leases: 1 });
});

test("reloading a drained pool brings it back; the same model while serving changes nothing", async () => {
  fx = await startPoolFixture();
  expect((await reload(fx, "tiny").done)).toMatchObject({ ok: true, unchanged: true, model: "tiny", duration_ms: 0 });
  expect(fx.engines).toHaveLength(1);

  await fx.pool.ask({ type: "drain", deadline_ms: 0 });
  await fx.clock.flush();
  expect(fx.replicaAlive()).toBe(false);
  expect(await reload(fx, "tiny").done).toMatchObject({ ok: true, unchanged: false, previous_model: "tiny", model: "tiny" });
  expect(fx.replicaAlive()).toBe(true);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true, draining: false });
});

test("a second reload while one runs is refused as busy", async () => {
  fx = await startPoolFixture({ faults: { tokenDelayMs: 10 } });
  await fx.dispatch("a", 5);
  const first = reload(fx, modelFile);
  await fx.clock.flush();
  const second = await reload(fx, "other").done;
  expect(second).toMatchObject({ ok: false, reason: "busy", error: { code: "POOL_UNAVAILABLE", message: "pool p0 is busy: a reload is under way" } });
  await fx.clock.advance(100);
  expect(await first.done).toMatchObject({ ok: true, model: modelFile });
});

test("an engine crash after a reload restarts on the new model", async () => {
  fx = await startPoolFixture();
  await reload(fx, modelFile).done;
  fx.engines[1]!.faults.crashAfterTokens = 1;
  const run = await fx.dispatch("boom", 3);
  expect(terminal(run)).toMatchObject({ type: "engine-error", error: { code: "WORKER_RESET" } });
  await fx.clock.advance(1000);
  expect(fx.engines.map((e) => e.model)).toEqual(["tiny", modelFile, modelFile]);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true, models_available: [modelFile] });
});
