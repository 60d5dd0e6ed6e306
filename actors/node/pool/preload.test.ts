// Preload on the node, on simulated time: a drained pool's engine started again and the pool
// serving; a preload that fails leaves the pool drained with the reason; a preload of a pool whose
// engine waits out a restart delay (backoff, open breaker) starts it now and waits for it
// (bounded); a ready pool answers at once; busy and refused cases.

import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PoolPreloadReply } from "../../../contract/link.ts";
import { startPoolFixture, terminal, type PoolFixture, type PoolFixtureOptions } from "../../../tests/fixtures/pool-tree.ts";

const dir = mkdtempSync(join(tmpdir(), "pool-preload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fx: PoolFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** Starts a preload; the answer arrives while the test moves the clock. */
function preload(f: PoolFixture) {
  let reply: PoolPreloadReply | undefined;
  const asked = f.pool.ask({ type: "preload" }, { timeoutMs: 600_000 }).then((r) => (reply = r.reply));
  asked.catch(() => undefined); // a fixture closed while the preload waits
  return { done: asked, current: () => reply };
}

async function drained(f: PoolFixture) {
  await f.pool.ask({ type: "drain", deadline_ms: 0 });
  await f.clock.flush();
  expect(f.replicaAlive()).toBe(false);
}

test("a ready pool answers at once and starts nothing", async () => {
  fx = await startPoolFixture();
  expect(await preload(fx).done).toEqual({ ok: true, node_id: "n1", pool_id: "p0", already: true, model: "tiny", engine_version: "mock-1", duration_ms: 0 });
  expect(fx.engines).toHaveLength(1);
});

test("a drained pool is started again and serves", async () => {
  fx = await startPoolFixture();
  await drained(fx);
  expect((await fx.dispatch("refused"))[0]).toMatchObject({ type: "engine-error", error: { code: "POOL_UNAVAILABLE" } });

  const reply = await preload(fx).done;
  expect(reply).toMatchObject({ ok: true, already: false, model: "tiny", engine_version: "mock-1" });
  expect(fx.engines).toHaveLength(2);
  expect(fx.replicaAlive()).toBe(true);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true, draining: false });
  const health = await fx.pool.ask({ type: "health" });
  expect(health).toMatchObject({ live: true, ready: true, draining: false });
  expect(health.operation).toBeUndefined();
  expect(terminal(await fx.dispatch("after", 2))).toMatchObject({ type: "engine-end", tokens_out: 2 });
});

test("a preload whose engine cannot load its model fails; the pool stays drained with the reason", async () => {
  const fragile = join(dir, "fragile.gguf");
  writeFileSync(fragile, "GGUF");
  fx = await startPoolFixture({ model: fragile });
  await drained(fx);
  rmSync(fragile);
  const reply = await preload(fx).done;
  expect(reply).toMatchObject({ ok: false, reason: "preload_failed", model: fragile, error: { code: "POOL_UNREADY", retriable: true, pool_id: "p0" } });
  expect(reply.ok === false && reply.error.message).toStartWith("preload failed: ");
  expect(reply.ok === false && reply.error.message).toContain(`model file ${fragile} does not exist`);
  expect(fx.replicaAlive()).toBe(false);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: false, draining: true });
  expect((await fx.pool.ask({ type: "health" })).last_error).toContain("preload failed");
  // Nothing restarts it behind the operator's back.
  await fx.clock.advance(10_000);
  expect(fx.replicaAlive()).toBe(false);
});

test("a preloaded engine that never gets ready fails after the ready timeout with 'health check failed'", async () => {
  const options: PoolFixtureOptions = { readyTimeoutMs: 2000 };
  fx = await startPoolFixture(options);
  await drained(fx);
  options.faultsFor = { tiny: { unready: true } };
  const p = preload(fx);
  await fx.clock.advance(1999);
  expect(p.current()).toBeUndefined();
  expect(await fx.pool.ask({ type: "health" })).toMatchObject({ operation: "preload", live: true, ready: false, draining: true });
  await fx.clock.advance(1);
  const reply = await p.done;
  expect(reply).toMatchObject({ ok: false, reason: "preload_failed", error: { code: "POOL_UNREADY" } });
  expect(reply.ok === false && reply.error.message).toContain("health check failed");
  expect(fx.replicaAlive()).toBe(false);
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: false, draining: true });
});

test("a pool waiting out its restart delay: the preload starts the engine now and answers when it is ready", async () => {
  fx = await startPoolFixture();
  fx.engines[0]!.faults.crashAfterTokens = 1;
  expect(terminal(await fx.dispatch("boom", 3))).toMatchObject({ type: "engine-error", error: { code: "WORKER_RESET" } });
  expect(fx.replicaAlive()).toBe(false); // the first backoff step is 100 ms
  const t0 = fx.clock.now();
  const reply = await preload(fx).done;
  expect(reply).toMatchObject({ ok: true, already: false, model: "tiny" });
  expect(fx.clock.now() - t0).toBeLessThan(100);
  expect(fx.engines).toHaveLength(2);
  await fx.clock.advance(1000); // the pending restart does not start a third engine
  expect(fx.engines).toHaveLength(2);
});

test("an open circuit breaker: the preload's start is the probe; the pool serves again", async () => {
  const fragile = join(dir, "flaky.gguf");
  writeFileSync(fragile, "GGUF");
  fx = await startPoolFixture({ model: fragile });
  rmSync(fragile);
  fx.engines[0]!.faults.crashAfterTokens = 1;
  await fx.dispatch("boom", 3);
  // Every restart fails to load the model: five failures open the breaker for 300 s.
  await fx.clock.advance(10_000);
  const down = await fx.pool.ask({ type: "health" });
  expect(down.last_error).toContain("circuit breaker open");
  const made = fx.engines.length;

  writeFileSync(fragile, "GGUF"); // the operator fixed it
  const reply = await preload(fx).done;
  expect(reply).toMatchObject({ ok: true, already: false, model: fragile });
  expect(fx.engines).toHaveLength(made + 1);
  expect(await fx.pool.ask({ type: "health" })).toMatchObject({ live: true, ready: true });
  expect(terminal(await fx.dispatch("after", 2))).toMatchObject({ type: "engine-end", tokens_out: 2 });
});

test("a preload that waits fails at once when the engine it waits for fails; at the ready timeout when it never gets ready", async () => {
  const options: PoolFixtureOptions = { readyTimeoutMs: 2000 };
  fx = await startPoolFixture(options);
  const fragile = join(dir, "gone.gguf");
  options.faultsFor = { tiny: { unready: true } };
  fx.engines[0]!.faults.crashAfterTokens = 1;
  await fx.dispatch("boom", 3);
  const gaveUp = preload(fx);
  await fx.clock.advance(1999);
  expect(gaveUp.current()).toBeUndefined();
  await fx.clock.advance(1);
  const reply = await gaveUp.done;
  expect(reply).toMatchObject({ ok: false, reason: "preload_failed", error: { code: "POOL_UNREADY" } });
  expect(reply.ok === false && reply.error.message).toContain("health check failed: the engine was not ready within 2000 ms");
  expect(fx.replicaAlive()).toBe(true); // the restart policy goes on
  expect((await fx.pool.ask({ type: "health" })).draining).toBe(false);
  await fx.close();

  writeFileSync(fragile, "GGUF");
  fx = await startPoolFixture({ model: fragile });
  rmSync(fragile);
  fx.engines[0]!.faults.crashAfterTokens = 1;
  await fx.dispatch("boom", 3);
  const failed = await preload(fx).done;
  expect(failed).toMatchObject({ ok: false, reason: "preload_failed", error: { code: "POOL_UNREADY" } });
  expect(failed.ok === false && failed.error.message).toContain(`model file ${fragile} does not exist`);
});

test("busy while a reload runs; a drain is refused while a preload runs; a drain fails a waiting preload", async () => {
  fx = await startPoolFixture({ faults: { tokenDelayMs: 10 } });
  await fx.dispatch("a", 5);
  const reloading = fx.pool.ask({ type: "reload", model: "other", drain_deadline_ms: 5000 }, { timeoutMs: 60_000 });
  await fx.clock.flush();
  expect(await preload(fx).done).toMatchObject({ ok: false, reason: "busy", error: { code: "POOL_UNAVAILABLE", message: "pool p0 is busy: a reload is under way" } });
  await fx.clock.advance(100);
  await reloading;
  await fx.close();

  const options: PoolFixtureOptions = {};
  fx = await startPoolFixture(options);
  await drained(fx);
  options.faultsFor = { tiny: { unready: true } };
  const p = preload(fx);
  await fx.clock.flush();
  const refused = await fx.pool.ask({ type: "drain", deadline_ms: 0 });
  expect(refused.reply).toMatchObject({ ok: false, reason: "busy", error: { message: "pool p0 is being preloaded; drain it once that is done" } });
  expect(p.current()).toBeUndefined();
  await fx.close();

  fx = await startPoolFixture(options); // every engine of this one stays unready
  const waiting = preload(fx);
  await fx.clock.flush();
  await fx.pool.ask({ type: "drain", deadline_ms: 0 });
  expect(await waiting.done).toMatchObject({ ok: false, reason: "preload_failed", error: { message: "preload failed: the pool is being drained" } });
});

test("a pool the GPU-only rule keeps off this node refuses preload and reload", async () => {
  fx = await startPoolFixture({ unavailable: "no GPU on this node and allow_cpu is false" });
  expect(fx.replicaAlive()).toBe(false);
  expect(await preload(fx).done).toMatchObject({
    ok: false,
    reason: "unavailable",
    error: { code: "POOL_UNAVAILABLE", retriable: false, message: "pool p0 may not run on node n1: no GPU on this node and allow_cpu is false" },
  });
  const reload = await fx.pool.ask({ type: "reload", model: "other", drain_deadline_ms: 0 });
  expect(reload.reply).toMatchObject({ ok: false, reason: "unavailable" });
  await fx.clock.flush();
  expect(fx.replicaAlive()).toBe(false);
});
