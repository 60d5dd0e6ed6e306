// Purge in the pool operations' state machine: one table row per transition (refusals, stop,
// file removal, failure), stale events, and a whole run from a serving pool through purge and the
// preload that brings it back. The HTTP surface is in tests/cluster/pools-purge.test.ts.

import { describe, expect, test } from "bun:test";
import { retryAfterDefaultMs } from "../../../contract/index.ts";
import { step } from "./operation-machine.ts";
import { PURGED_REASON } from "./operation-purge.ts";
import { initialState, type OperationConfig, type OperationEffect, type OperationEvent, type PoolOpsState, type PurgeOp } from "./operation-state.ts";

const CONFIG: OperationConfig = { nodeId: "n1", poolId: "p0", readyTimeoutMs: 2000 };
const T0 = 1000;
const IDS = { node_id: "n1", pool_id: "p0" };
const FILE = { path: "/cache/ab12/m.gguf", bytes: 4096 };

const serving = (over: Partial<PoolOpsState> = {}): PoolOpsState => ({ ...initialState("hf:o/r/m.gguf"), ready: true, live: true, engineVersion: "v1", ...over });
const drained = (over: Partial<PoolOpsState> = {}) => serving({ draining: true, ready: false, live: false, ...over });
const purging = (phase: PurgeOp["phase"]) => serving({ draining: true, ready: phase === "stopping", stopped: phase === "removing", live: phase === "stopping", seq: 1, op: { kind: "purge", id: 1, startedAt: T0, asker: 5, phase, timer: null } });
const retriable = (code: string, message: string) => ({ code, message, retriable: true, retry_after_ms: retryAfterDefaultMs(), pool_id: "p0" });
const reply = (asker: number, body: object): OperationEffect => ({ type: "reply", asker, reply: body as never });
const withoutLogs = (effects: OperationEffect[]) => effects.filter((e) => e.type !== "log");

interface Row {
  name: string;
  given: PoolOpsState;
  event: OperationEvent;
  leases?: number;
  now?: number;
  config?: OperationConfig;
  then: Partial<PoolOpsState> | "same";
  effects: OperationEffect[];
}

const ROWS: Row[] = [
  {
    name: "purge of an idle serving pool: out of placement at once, replica stopped",
    given: serving(),
    event: { type: "purge", asker: 5 },
    then: { draining: true, seq: 1, op: { kind: "purge", id: 1, startedAt: T0, asker: 5, phase: "stopping", timer: null } },
    effects: [{ type: "publish" }, { type: "stop-replica", op: 1 }],
  },
  {
    name: "purge of a drained pool: its (already stopped) replica is stopped again, harmlessly",
    given: drained(),
    event: { type: "purge", asker: 5 },
    then: { draining: true, op: { kind: "purge", id: 1, startedAt: T0, asker: 5, phase: "stopping", timer: null } },
    effects: [{ type: "publish" }, { type: "stop-replica", op: 1 }],
  },
  {
    name: "purge while tasks run: busy, nothing changes",
    given: serving(),
    event: { type: "purge", asker: 5 },
    leases: 2,
    then: "same",
    effects: [
      reply(5, {
        ok: false,
        ...IDS,
        reason: "busy",
        error: retriable("POOL_UNAVAILABLE", "pool p0 has 2 task(s) running; drain it first (POST /v2/pools/p0/drain) or let them end, then purge"),
        model: "hf:o/r/m.gguf",
      }),
    ],
  },
  {
    name: "purge during a drain that waits for tasks: busy",
    given: serving({ draining: true, seq: 2, op: { kind: "drain", id: 1, startedAt: T0, phase: "waiting", timer: 2, forced: false, leasesAtStop: 0 } }),
    event: { type: "purge", asker: 5 },
    leases: 1,
    then: "same",
    effects: [reply(5, { ok: false, ...IDS, reason: "busy", error: retriable("POOL_UNAVAILABLE", "pool p0 is busy: a drain is under way"), model: "hf:o/r/m.gguf" })],
  },
  {
    name: "purge during a purge: busy",
    given: purging("removing"),
    event: { type: "purge", asker: 6 },
    then: "same",
    effects: [reply(6, { ok: false, ...IDS, reason: "busy", error: retriable("POOL_UNAVAILABLE", "pool p0 is busy: a purge is under way"), model: "hf:o/r/m.gguf" })],
  },
  {
    name: "purge of a pool that may not run here: refused, not retriable",
    given: serving({ ready: false, live: false }),
    event: { type: "purge", asker: 5 },
    config: { ...CONFIG, unavailable: "no GPU" },
    then: "same",
    effects: [reply(5, { ok: false, ...IDS, reason: "unavailable", error: { code: "POOL_UNAVAILABLE", message: "pool p0 may not run on node n1: no GPU", retriable: false, pool_id: "p0" }, model: "hf:o/r/m.gguf" })],
  },
  {
    name: "purge fails a preload that waited for a restarting engine",
    given: serving({ ready: false, live: false, seq: 1, waiters: [{ asker: 4, timer: 1, startedAt: T0 }] }),
    event: { type: "purge", asker: 5 },
    now: T0 + 30,
    then: { waiters: [], op: { kind: "purge", id: 2, startedAt: T0 + 30, asker: 5, phase: "stopping", timer: null } },
    effects: [
      { type: "cancel-timer", timer: 1 },
      { type: "count", metric: "preloads", labels: { outcome: "failed" } },
      reply(4, { ok: false, ...IDS, reason: "preload_failed", error: retriable("POOL_UNREADY", "preload failed: the pool is being purged"), model: "hf:o/r/m.gguf", duration_ms: 30 }),
      { type: "publish" },
      { type: "stop-replica", op: 2 },
    ],
  },
  {
    name: "replica stopped: not ready, stopped, its files go next",
    given: purging("stopping"),
    event: { type: "stopped", op: 1 },
    then: { ready: false, live: false, stopped: true, op: { kind: "purge", id: 1, startedAt: T0, asker: 5, phase: "removing", timer: null } },
    effects: [{ type: "drop-leases" }, { type: "purge-files", op: 1 }],
  },
  {
    name: "files removed: answered with what went, the pool stays drained with the reason",
    given: purging("removing"),
    event: { type: "purged", op: 1, removed: [FILE] },
    now: T0 + 250,
    then: { op: null, draining: true, stopped: true, ready: false, lastError: PURGED_REASON },
    effects: [{ type: "publish" }, reply(5, { ok: true, ...IDS, removed: [FILE], model: "hf:o/r/m.gguf", duration_ms: 250 })],
  },
  {
    name: "nothing to remove (a local path): answered with why, still purged",
    given: purging("removing"),
    event: { type: "purged", op: 1, removed: [], kept: "model file /m.gguf is a local path of the pools file, not a download: the node never removes it" },
    then: { op: null, lastError: PURGED_REASON },
    effects: [{ type: "publish" }, reply(5, { ok: true, ...IDS, removed: [], kept: "model file /m.gguf is a local path of the pools file, not a download: the node never removes it", model: "hf:o/r/m.gguf", duration_ms: 0 })],
  },
  {
    name: "a file that cannot be removed: INTERNAL, the engine stays stopped",
    given: purging("removing"),
    event: { type: "purged", op: 1, removed: [], error: "EACCES: permission denied, unlink '/cache/ab12/m.gguf'" },
    then: { op: null, stopped: true, lastError: "purge failed: EACCES: permission denied, unlink '/cache/ab12/m.gguf'; the engine is stopped" },
    effects: [
      { type: "publish" },
      reply(5, { ok: false, ...IDS, reason: "purge_failed", error: { code: "INTERNAL", message: "pool p0: the engine is stopped but EACCES: permission denied, unlink '/cache/ab12/m.gguf'", pool_id: "p0" }, model: "hf:o/r/m.gguf", duration_ms: 0 }),
    ],
  },
  { name: "a stale stopped (another op id) is ignored", given: purging("stopping"), event: { type: "stopped", op: 9 }, then: "same", effects: [] },
  { name: "a stale purged (another op id) is ignored", given: purging("removing"), event: { type: "purged", op: 9, removed: [FILE] }, then: "same", effects: [] },
  { name: "purged before the replica stopped is ignored", given: purging("stopping"), event: { type: "purged", op: 1, removed: [FILE] }, then: "same", effects: [] },
  {
    name: "a reload during a purge: busy",
    given: purging("stopping"),
    event: { type: "reload", asker: 8, model: "other", drainDeadlineMs: 0 },
    then: "same",
    effects: [reply(8, { ok: false, ...IDS, reason: "busy", error: retriable("POOL_UNAVAILABLE", "pool p0 is busy: a purge is under way"), model: "hf:o/r/m.gguf" })],
  },
];

describe("pool operations: purge", () => {
  for (const row of ROWS) {
    test(row.name, () => {
      const given = structuredClone(row.given);
      const { state, effects } = step(Object.freeze(given), row.event, { now: row.now ?? T0, leases: row.leases ?? 0, config: row.config ?? CONFIG });
      if (row.then === "same") expect(state).toEqual(row.given);
      else expect(state).toMatchObject(row.then);
      expect(withoutLogs(effects) as unknown[]).toEqual(row.effects);
    });
  }

  test("a whole run: serving → purge → preload starts the engine on the model again and the pool serves", () => {
    let state = serving();
    const feed = (event: OperationEvent, leases = 0) => {
      const r = step(state, event, { now: T0, leases, config: CONFIG });
      state = r.state;
      return withoutLogs(r.effects);
    };
    expect(feed({ type: "purge", asker: 1 }, 1)[0]).toMatchObject({ type: "reply", reply: { ok: false, reason: "busy" } });
    expect(feed({ type: "purge", asker: 1 })).toEqual([{ type: "publish" }, { type: "stop-replica", op: 1 }]);
    expect(feed({ type: "stopped", op: 1 })).toEqual([{ type: "drop-leases" }, { type: "purge-files", op: 1 }]);
    expect(feed({ type: "purged", op: 1, removed: [FILE] }) as unknown[]).toContainEqual(reply(1, { ok: true, ...IDS, removed: [FILE], model: "hf:o/r/m.gguf", duration_ms: 0 }));
    // Not ready, out of placement, no replica: a preload starts one on the same model (which downloads it again).
    expect(state).toMatchObject({ ready: false, draining: true, stopped: true, lastError: PURGED_REASON });
    expect(feed({ type: "preload", asker: 2 })).toEqual([{ type: "arm-timer", timer: 3, ms: 2000 }, { type: "start-replica", op: 2, model: "hf:o/r/m.gguf" }]);
    feed({ type: "replica-status", ready: true, engine_version: "v2" });
    expect(state).toMatchObject({ ready: true, draining: false, stopped: false, lastError: undefined, op: null });
  });

  test("the purge log says what it does, with the pool id", () => {
    const { effects } = step(serving(), { type: "purge", asker: 1 }, { now: T0, leases: 0, config: CONFIG });
    expect(effects[0] as unknown).toEqual({ type: "log", level: "info", message: "Purging pool p0: stopping its engine and removing its cached model files", fields: { pool_id: "p0", model: "hf:o/r/m.gguf" } });
  });
});
