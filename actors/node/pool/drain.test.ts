// Drain on the node, on simulated time: the pool is draining at once and refuses new work,
// in-flight tasks finish before the deadline, the deadline stops the rest with a retriable error,
// then the engine replica stops and the pool stays drained.

import { afterEach, expect, test } from "bun:test";
import { DEFAULT_RETRY_AFTER_MS } from "../../../contract/index.ts";
import { startPoolFixture, terminal, type PoolFixture } from "../../../tests/fixtures/pool-tree.ts";

let fx: PoolFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

test("an idle pool drains at once: draining published, engine stopped, new work refused", async () => {
  fx = await startPoolFixture();
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: true, draining: false });

  const { reply, snapshot } = await fx.pool.ask({ type: "drain", deadline_ms: 10_000 });
  expect(reply).toEqual({ ok: true, node_id: "n1", pool_id: "p0", draining: true, already: false, active_leases: 0 });
  expect(snapshot).toMatchObject({ pool_id: "p0", ready: false, draining: true, models_available: ["tiny"] });
  await fx.clock.flush();

  expect(fx.replicaAlive()).toBe(false);
  expect(await fx.pool.ask({ type: "health" })).toMatchObject({ live: false, ready: false, draining: true, active_leases: 0 });
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: false, draining: true });

  const refused = await fx.dispatch("late");
  expect(refused).toEqual([
    { type: "engine-error", error: expect.objectContaining({ code: "POOL_UNAVAILABLE", retriable: true, message: "pool p0 is draining", pool_id: "p0" }) },
  ]);
  // The drained pool stays down: no restart of the replica later on.
  await fx.clock.advance(60_000);
  expect(fx.replicaAlive()).toBe(false);
  expect((await fx.pool.ask({ type: "snapshot" })).draining).toBe(true);
});

test("in-flight tasks finish before the deadline; the engine stops when the last one ends", async () => {
  fx = await startPoolFixture({ faults: { tokenDelayMs: 10 } });
  const first = await fx.dispatch("a", 5);
  await fx.clock.advance(15);
  const second = await fx.dispatch("b", 3);

  const { reply } = await fx.pool.ask({ type: "drain", deadline_ms: 1000 });
  expect(reply).toMatchObject({ ok: true, already: false, active_leases: 2 });
  expect(fx.snapshots.at(-1)).toMatchObject({ ready: false, draining: true });
  expect(await fx.pool.ask({ type: "health" })).toMatchObject({ live: true, ready: false, draining: true, operation: "drain", active_leases: 2 });
  expect((await fx.dispatch("c"))[0]).toMatchObject({ type: "engine-error", error: { code: "POOL_UNAVAILABLE" } });

  // "b" (from t+15, 3 tokens at 10 ms) ends at t+45, "a" (5 tokens) at t+50.
  await fx.clock.advance(31);
  expect(terminal(second)).toMatchObject({ type: "engine-end", tokens_out: 3 });
  expect(terminal(first)).toBeUndefined();
  expect(fx.replicaAlive()).toBe(true);

  await fx.clock.advance(10);
  expect(terminal(first)).toMatchObject({ type: "engine-end", tokens_out: 5 });
  expect(first.filter((e) => e.type === "engine-token")).toHaveLength(5);
  expect(fx.replicaAlive()).toBe(false);
  expect(await fx.pool.ask({ type: "health" })).toMatchObject({ live: false, draining: true, active_leases: 0 });
  expect((await fx.pool.ask({ type: "health" })).operation).toBeUndefined();
});

test("the deadline stops what still runs with a retriable POOL_UNAVAILABLE, then the engine", async () => {
  fx = await startPoolFixture({ faults: { tokenDelayMs: 10, hangAfterTokens: 2 } });
  const stuck = await fx.dispatch("stuck", 50);
  await fx.clock.advance(100);
  expect(stuck.filter((e) => e.type === "engine-token")).toHaveLength(2);

  await fx.pool.ask({ type: "drain", deadline_ms: 500 });
  await fx.clock.advance(499);
  expect(terminal(stuck)).toBeUndefined();
  expect(fx.replicaAlive()).toBe(true);

  await fx.clock.advance(1);
  expect(fx.replicaAlive()).toBe(false);
  const last = stuck.filter((e) => e.type === "engine-end" || e.type === "engine-error");
  expect(last).toEqual([
    {
      type: "engine-error",
      error: {
        code: "POOL_UNAVAILABLE",
        message: "pool p0 on node n1 was drained; the task was stopped at the drain deadline",
        retriable: true,
        retry_after_ms: DEFAULT_RETRY_AFTER_MS,
        pool_id: "p0",
      },
    },
  ]);
  expect(stuck.at(-1)!.type).toBe("engine-error");
  expect(await fx.pool.ask({ type: "health" })).toMatchObject({ live: false, ready: false, draining: true, active_leases: 0 });
});

test("a second drain is acknowledged without changing the first; a drain during a reload is refused", async () => {
  fx = await startPoolFixture({ faults: { tokenDelayMs: 10 } });
  await fx.dispatch("a", 10);
  await fx.pool.ask({ type: "drain", deadline_ms: 1000 });
  const again = await fx.pool.ask({ type: "drain", deadline_ms: 0 });
  expect(again.reply).toMatchObject({ ok: true, already: true, active_leases: 1 });
  await fx.clock.advance(50);
  expect(fx.replicaAlive()).toBe(true); // the first deadline (1000 ms) still stands
  await fx.clock.advance(100);
  expect(fx.replicaAlive()).toBe(false);
  await fx.close();

  fx = await startPoolFixture({ faults: { tokenDelayMs: 10 } });
  await fx.dispatch("b", 10);
  void fx.pool.ask({ type: "reload", model: "other", drain_deadline_ms: 5000 }, { timeoutMs: 60_000 }).catch(() => undefined);
  await fx.clock.flush();
  const refused = await fx.pool.ask({ type: "drain", deadline_ms: 0 });
  expect(refused.reply).toMatchObject({ ok: false, reason: "busy", error: { code: "POOL_UNAVAILABLE", pool_id: "p0" } });
});
