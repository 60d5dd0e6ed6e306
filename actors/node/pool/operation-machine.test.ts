// The pool operations' state machine on its own: events in, state and effects out, one table row
// per transition of drain, reload and preload, plus stale events and a whole reload run. Logs are
// left out of the compared effects (one test looks at them). The pool subtree's behaviour with the
// real replica and supervisor is in ./drain.test.ts, ./reload.test.ts and ./preload.test.ts.

import { describe, expect, test } from "bun:test";
import { retryAfterDefaultMs } from "../../../contract/index.ts";
import { step } from "./operation-machine.ts";
import {
  initialState,
  type OperationConfig,
  type OperationEffect,
  type OperationEvent,
  type PoolOpsState,
  type ReloadOp,
  type ReloadPhase,
} from "./operation-state.ts";

const CONFIG: OperationConfig = { nodeId: "n1", poolId: "p0", readyTimeoutMs: 2000 };
const T0 = 1000;
const IDS = { node_id: "n1", pool_id: "p0" };

const serving = (over: Partial<PoolOpsState> = {}): PoolOpsState => ({ ...initialState("tiny"), ready: true, live: true, engineVersion: "v1", ...over });
const drained = (over: Partial<PoolOpsState> = {}) => serving({ draining: true, ready: false, live: false, ...over });
const draining = (phase: "waiting" | "stopping", timer: number | null) =>
  serving({ draining: true, seq: 2, op: { kind: "drain", id: 1, startedAt: T0, phase, timer, forced: false, leasesAtStop: 0 } });
const reloading = (phase: ReloadPhase, over: Partial<ReloadOp> = {}) => {
  const timer = phase === "draining" || phase.startsWith("starting") ? 2 : null;
  const op: ReloadOp = { kind: "reload", id: 1, startedAt: T0, asker: 7, from: "tiny", to: "big", phase, drainDeadlineMs: 5000, timer, ...over };
  return serving({ draining: true, ready: phase === "draining", seq: 2, op });
};
const preloading = (phase: "starting" | "stopping", failure?: string) =>
  drained({ seq: 2, op: { kind: "preload", id: 1, startedAt: T0, asker: 4, phase, timer: phase === "starting" ? 2 : null, failure } });
const waiting = () => serving({ ready: false, live: false, lastError: "restarting in 100 ms", seq: 1, waiters: [{ asker: 4, timer: 1, startedAt: T0 }] });

/** A retriable envelope as contract/errors.ts builds it, for pool p0. */
const retriable = (code: string, message: string) => ({ code, message, retriable: true, retry_after_ms: retryAfterDefaultMs(), pool_id: "p0" });
const reply = (asker: number, body: object): OperationEffect => ({ type: "reply", asker, reply: body as never });

interface Row {
  name: string;
  given: PoolOpsState;
  event: OperationEvent;
  leases?: number;
  now?: number;
  config?: OperationConfig;
  /** Fields of the state after the step (compared with toMatchObject); `same` when nothing may change. */
  then: Partial<PoolOpsState> | "same";
  effects: OperationEffect[];
}

const ROWS: Row[] = [
  // ---- drain
  {
    name: "drain of an idle pool: draining at once, replica stopped, accepted",
    given: serving(),
    event: { type: "drain", asker: 1, deadlineMs: 5000 },
    then: { draining: true, op: { kind: "drain", id: 1, startedAt: T0, phase: "stopping", timer: null, forced: false, leasesAtStop: 0 } },
    effects: [{ type: "publish" }, { type: "stop-replica", op: 1 }, reply(1, { ok: true, ...IDS, draining: true, already: false, active_leases: 0 })],
  },
  {
    name: "drain with tasks in flight: waits for them, deadline armed",
    given: serving(),
    event: { type: "drain", asker: 1, deadlineMs: 5000 },
    leases: 2,
    then: { draining: true, seq: 2, op: { kind: "drain", id: 1, startedAt: T0, phase: "waiting", timer: 2, forced: false, leasesAtStop: 0 } },
    effects: [{ type: "publish" }, { type: "arm-timer", timer: 2, ms: 5000 }, reply(1, { ok: true, ...IDS, draining: true, already: false, active_leases: 2 })],
  },
  {
    name: "drain of a draining pool: acknowledged, the first drain stands",
    given: draining("waiting", 2),
    event: { type: "drain", asker: 3, deadlineMs: 0 },
    leases: 1,
    then: "same",
    effects: [reply(3, { ok: true, ...IDS, draining: true, already: true, active_leases: 1 })],
  },
  {
    name: "drain during a reload: busy",
    given: reloading("draining"),
    event: { type: "drain", asker: 3, deadlineMs: 0 },
    then: "same",
    effects: [reply(3, { ok: false, ...IDS, reason: "busy", error: retriable("POOL_UNAVAILABLE", "pool p0 is being reloaded to big; drain it once that is done") })],
  },
  {
    name: "drain fails the preloads that wait",
    given: waiting(),
    event: { type: "drain", asker: 5, deadlineMs: 0 },
    now: T0 + 300,
    then: { waiters: [], draining: true },
    effects: [
      { type: "cancel-timer", timer: 1 },
      { type: "count", metric: "preloads", labels: { outcome: "failed" } },
      reply(4, { ok: false, ...IDS, reason: "preload_failed", error: retriable("POOL_UNREADY", "preload failed: the pool is being drained"), model: "tiny", duration_ms: 300 }),
      { type: "publish" },
      { type: "stop-replica", op: 2 },
      reply(5, { ok: true, ...IDS, draining: true, already: false, active_leases: 0 }),
    ],
  },
  {
    name: "the last task ends: the waiting drain stops the replica",
    given: draining("waiting", 2),
    event: { type: "leases-changed" },
    then: { op: expect.objectContaining({ phase: "stopping", timer: null, forced: false }) },
    effects: [{ type: "cancel-timer", timer: 2 }, { type: "stop-replica", op: 1 }],
  },
  {
    name: "the drain deadline with tasks still running: they are aborted, then the replica stops",
    given: draining("waiting", 2),
    event: { type: "timer", timer: 2 },
    leases: 1,
    then: { op: expect.objectContaining({ phase: "stopping", timer: null, forced: true, leasesAtStop: 1 }) },
    effects: [{ type: "stop-replica", op: 1, abort: retriable("POOL_UNAVAILABLE", "pool p0 on node n1 was drained; the task was stopped at the drain deadline") as never }],
  },
  {
    name: "the replica stopped: drained, not live, leases dropped",
    given: draining("stopping", null),
    event: { type: "stopped", op: 1 },
    now: T0 + 3000,
    then: { op: null, draining: true, ready: false, live: false },
    effects: [{ type: "drop-leases" }, { type: "observe", metric: "drainDuration", ms: 3000 }, { type: "publish" }],
  },
  // ---- reload
  {
    name: "reload of an idle pool: draining, old engine stopped",
    given: serving(),
    event: { type: "reload", asker: 7, model: "big", drainDeadlineMs: 5000 },
    then: { draining: true, op: { kind: "reload", id: 1, startedAt: T0, asker: 7, from: "tiny", to: "big", phase: "stopping-old", drainDeadlineMs: 5000, timer: null } },
    effects: [{ type: "publish" }, { type: "stop-replica", op: 1 }],
  },
  {
    name: "reload with tasks in flight: the drain deadline is armed",
    given: serving(),
    event: { type: "reload", asker: 7, model: "big", drainDeadlineMs: 5000 },
    leases: 1,
    then: { draining: true, op: expect.objectContaining({ phase: "draining", timer: 2 }) },
    effects: [{ type: "publish" }, { type: "arm-timer", timer: 2, ms: 5000 }],
  },
  {
    name: "reload to the model already serving: unchanged",
    given: serving(),
    event: { type: "reload", asker: 7, model: "tiny", drainDeadlineMs: 5000 },
    then: "same",
    effects: [reply(7, { ok: true, ...IDS, unchanged: true, previous_model: "tiny", model: "tiny", engine_version: "v1", duration_ms: 0 })],
  },
  {
    name: "reload of a pool that may not run on this node: refused, not retriable",
    given: initialState("tiny", "no GPU"),
    event: { type: "reload", asker: 7, model: "big", drainDeadlineMs: 0 },
    config: { ...CONFIG, unavailable: "no GPU" },
    then: "same",
    effects: [
      reply(7, { ok: false, ...IDS, reason: "unavailable", error: { code: "POOL_UNAVAILABLE", message: "pool p0 may not run on node n1: no GPU", retriable: false, pool_id: "p0" }, model: "tiny" }),
    ],
  },
  {
    name: "the drain deadline of a reload passes: abandoned, the old engine serves on",
    given: reloading("draining"),
    event: { type: "timer", timer: 2 },
    leases: 1,
    now: T0 + 5000,
    then: { op: null, draining: false, model: "tiny" },
    effects: [
      { type: "publish" },
      { type: "count", metric: "reloadFailure", labels: { reason: "drain_timeout" } },
      reply(7, { ok: false, ...IDS, reason: "drain_timeout", error: retriable("DEADLINE_UNMET", "1 task(s) still ran on pool p0 at the drain deadline (5000 ms); reload to big abandoned, tiny still serves"), previous_model: "tiny", model: "tiny", duration_ms: 5000 }),
    ],
  },
  {
    name: "the old engine stopped: the new one starts, with the ready timeout",
    given: reloading("stopping-old"),
    event: { type: "stopped", op: 1 },
    then: { seq: 3, op: expect.objectContaining({ phase: "starting-new", timer: 3 }) },
    effects: [{ type: "arm-timer", timer: 3, ms: 2000 }, { type: "start-replica", op: 1, model: "big" }],
  },
  {
    name: "the new engine is ready: reloaded, the new model advertised",
    given: reloading("starting-new"),
    event: { type: "replica-status", ready: true, engine_version: "v2" },
    now: T0 + 3000,
    then: { op: null, model: "big", draining: false, ready: true, live: true, engineVersion: "v2", lastError: undefined },
    effects: [
      { type: "cancel-timer", timer: 2 },
      { type: "observe", metric: "reloadDuration", ms: 3000 },
      { type: "count", metric: "reloadSuccess" },
      { type: "publish" },
      reply(7, { ok: true, ...IDS, unchanged: false, previous_model: "tiny", model: "big", engine_version: "v2", duration_ms: 3000 }),
    ],
  },
  {
    name: "the new engine exits while starting: roll back, stopping it first",
    given: reloading("starting-new"),
    event: { type: "replica-status", ready: false, exited: true, last_error: "model file missing" },
    then: { ready: false, lastError: "model file missing", op: expect.objectContaining({ phase: "stopping-new", failure: "model file missing", timer: null }) },
    effects: [{ type: "cancel-timer", timer: 2 }, { type: "stop-replica", op: 1 }, { type: "publish" }],
  },
  {
    name: "the new engine never gets ready: roll back at the ready timeout",
    given: reloading("starting-new"),
    event: { type: "timer", timer: 2 },
    then: { op: expect.objectContaining({ phase: "stopping-new", failure: "the engine did not become ready within 2000 ms" }) },
    effects: [{ type: "stop-replica", op: 1 }],
  },
  {
    name: "the new engine stopped: the old one starts again",
    given: reloading("stopping-new", { failure: "boom" }),
    event: { type: "stopped", op: 1 },
    then: { op: expect.objectContaining({ phase: "starting-old", timer: 3 }) },
    effects: [{ type: "arm-timer", timer: 3, ms: 2000 }, { type: "start-replica", op: 1, model: "tiny" }],
  },
  {
    name: "the old engine is ready again: rolled back, not retriable",
    given: reloading("starting-old", { failure: "boom" }),
    event: { type: "replica-status", ready: true },
    now: T0 + 4000,
    then: { op: null, model: "tiny", draining: false, ready: true, lastError: "reload to big failed: boom" },
    effects: [
      { type: "cancel-timer", timer: 2 },
      { type: "publish" },
      { type: "count", metric: "reloadFailure", labels: { reason: "rolled_back" } },
      reply(7, { ok: false, ...IDS, reason: "rolled_back", error: { code: "POOL_UNREADY", message: "the engine for big did not become ready (boom); rolled back to tiny", retriable: false, pool_id: "p0" }, previous_model: "tiny", model: "tiny", duration_ms: 4000 }),
    ],
  },
  {
    name: "the old engine cannot start either: rollback_failed, retriable",
    given: reloading("starting-old", { failure: "boom" }),
    event: { type: "started", op: 1, error: "spawn failed" },
    now: T0 + 4000,
    then: { op: null, model: "tiny", draining: false, lastError: "reload to big failed (boom); restarting tiny failed too: the engine could not be started: spawn failed" },
    effects: [
      { type: "cancel-timer", timer: 2 },
      { type: "publish" },
      { type: "count", metric: "reloadFailure", labels: { reason: "rollback_failed" } },
      reply(7, { ok: false, ...IDS, reason: "rollback_failed", error: retriable("POOL_UNREADY", "reload to big failed (boom); restarting tiny failed too: the engine could not be started: spawn failed"), previous_model: "tiny", model: "tiny", duration_ms: 4000 }),
    ],
  },
  // ---- preload
  {
    name: "preload of a ready pool: answered at once",
    given: serving(),
    event: { type: "preload", asker: 4 },
    then: "same",
    effects: [{ type: "count", metric: "preloads", labels: { outcome: "already" } }, reply(4, { ok: true, ...IDS, already: true, model: "tiny", engine_version: "v1", duration_ms: 0 })],
  },
  {
    name: "preload of a drained pool: its engine starts, with the ready timeout",
    given: drained(),
    event: { type: "preload", asker: 4 },
    then: { seq: 2, op: { kind: "preload", id: 1, startedAt: T0, asker: 4, phase: "starting", timer: 2 } },
    effects: [{ type: "arm-timer", timer: 2, ms: 2000 }, { type: "start-replica", op: 1, model: "tiny" }],
  },
  {
    name: "preload of a restarting pool: its engine is started now and waited for",
    given: serving({ ready: false, live: false }),
    event: { type: "preload", asker: 4 },
    then: { op: null, seq: 1, waiters: [{ asker: 4, startedAt: T0, timer: 1 }] },
    effects: [{ type: "arm-timer", timer: 1, ms: 2000 }, { type: "restart-now" }],
  },
  {
    name: "preload during a reload: busy",
    given: reloading("starting-new"),
    event: { type: "preload", asker: 4 },
    then: "same",
    effects: [reply(4, { ok: false, ...IDS, reason: "busy", error: retriable("POOL_UNAVAILABLE", "pool p0 is busy: a reload is under way"), model: "tiny" })],
  },
  {
    name: "the engine a preload waits for gets ready: the waiter is answered",
    given: waiting(),
    event: { type: "replica-status", ready: true, engine_version: "v1" },
    now: T0 + 500,
    then: { waiters: [], ready: true, lastError: undefined },
    effects: [
      { type: "cancel-timer", timer: 1 },
      { type: "count", metric: "preloads", labels: { outcome: "ready" } },
      reply(4, { ok: true, ...IDS, already: false, model: "tiny", engine_version: "v1", duration_ms: 500 }),
      { type: "publish" },
    ],
  },
  {
    name: "a waiter's ready timeout: it fails with the engine's last error",
    given: waiting(),
    event: { type: "timer", timer: 1 },
    now: T0 + 2000,
    then: { waiters: [] },
    effects: [
      { type: "count", metric: "preloads", labels: { outcome: "failed" } },
      reply(4, { ok: false, ...IDS, reason: "preload_failed", error: retriable("POOL_UNREADY", "preload failed: health check failed: the engine was not ready within 2000 ms: restarting in 100 ms"), model: "tiny", duration_ms: 2000 }),
    ],
  },
  {
    name: "the preloaded engine gets ready: the pool serves again",
    given: preloading("starting"),
    event: { type: "replica-status", ready: true },
    now: T0 + 700,
    then: { op: null, draining: false, ready: true, lastError: undefined },
    effects: [
      { type: "cancel-timer", timer: 2 },
      { type: "publish" },
      { type: "count", metric: "preloads", labels: { outcome: "ready" } },
      reply(4, { ok: true, ...IDS, already: false, model: "tiny", engine_version: "v1", duration_ms: 700 }),
    ],
  },
  {
    name: "the preloaded engine exits: it is stopped, the pool stays drained",
    given: preloading("starting"),
    event: { type: "replica-status", ready: false, exited: true, last_error: "model file missing" },
    then: { draining: true, op: expect.objectContaining({ phase: "stopping", failure: "model file missing", timer: null }) },
    effects: [{ type: "cancel-timer", timer: 2 }, { type: "stop-replica", op: 1 }, { type: "publish" }],
  },
  {
    name: "the failed preload's replica stopped: answered with the reason",
    given: preloading("stopping", "model file missing"),
    event: { type: "stopped", op: 1 },
    now: T0 + 1500,
    then: { op: null, draining: true, ready: false, live: false, lastError: "preload failed: model file missing" },
    effects: [
      { type: "publish" },
      { type: "count", metric: "preloads", labels: { outcome: "failed" } },
      reply(4, { ok: false, ...IDS, reason: "preload_failed", error: retriable("POOL_UNREADY", "preload failed: model file missing"), model: "tiny", duration_ms: 1500 }),
    ],
  },
  // ---- other events
  {
    name: "an engine note: the reason is recorded and published",
    given: serving({ ready: false }),
    event: { type: "engine-note", last_error: "circuit breaker open" },
    then: { lastError: "circuit breaker open" },
    effects: [{ type: "publish" }],
  },
  { name: "a stale stop (an operation that ended) is ignored", given: reloading("starting-new"), event: { type: "stopped", op: 9 }, then: "same", effects: [] },
  { name: "a stale timer (one replaced) is ignored", given: reloading("starting-old"), event: { type: "timer", timer: 1 }, then: "same", effects: [] },
  { name: "a start that succeeded says nothing: readiness comes by status", given: reloading("starting-new"), event: { type: "started", op: 1 }, then: "same", effects: [] },
];

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const withoutLogs = (effects: OperationEffect[]): OperationEffect[] => effects.filter((e) => e.type !== "log");

describe("pool operations: step", () => {
  for (const row of ROWS) {
    test(row.name, () => {
      // Frozen: a step that changed its input would throw.
      const given = deepFreeze(structuredClone(row.given));
      const { state, effects } = step(given, row.event, { now: row.now ?? T0, leases: row.leases ?? 0, config: row.config ?? CONFIG });
      if (row.then === "same") expect(state).toEqual(row.given);
      else expect(state).toMatchObject(row.then);
      expect(withoutLogs(effects)).toEqual(row.effects);
    });
  }

  test("log effects carry the pool id and say what happened", () => {
    const { effects } = step(serving(), { type: "drain", asker: 1, deadlineMs: 5000 }, { now: T0, leases: 2, config: CONFIG });
    expect(effects[0]).toEqual({ type: "log", level: "warn", message: "Draining pool p0 with 2 task(s) in flight", fields: { pool_id: "p0", active_leases: 2, deadline_ms: 5000 } });
  });
});

describe("pool operations: a whole run", () => {
  test("a reload whose new engine fails rolls back; every step is driven by the effects before it", () => {
    let state = serving();
    let now = T0;
    const all: OperationEffect[] = [];
    const feed = (event: OperationEvent, leases = 0) => {
      const r = step(state, event, { now, leases, config: CONFIG });
      state = r.state;
      all.push(...withoutLogs(r.effects));
      return withoutLogs(r.effects);
    };
    expect(feed({ type: "reload", asker: 7, model: "big", drainDeadlineMs: 5000 }, 1)).toContainEqual({ type: "arm-timer", timer: 2, ms: 5000 });
    expect(feed({ type: "leases-changed" })).toEqual([{ type: "cancel-timer", timer: 2 }, { type: "stop-replica", op: 1 }]);
    expect(feed({ type: "replica-status", ready: false, exited: true })).toEqual([{ type: "publish" }]); // the old replica going away
    expect(feed({ type: "stopped", op: 1 })).toContainEqual({ type: "start-replica", op: 1, model: "big" });
    now += 2000;
    expect(feed({ type: "timer", timer: 3 })).toEqual([{ type: "stop-replica", op: 1 }]);
    expect(feed({ type: "stopped", op: 1 })).toContainEqual({ type: "start-replica", op: 1, model: "tiny" });
    expect(feed({ type: "timer", timer: 3 })).toEqual([]); // the new engine's timer, cancelled: stale
    feed({ type: "replica-status", ready: true });
    expect(state).toMatchObject({ op: null, model: "tiny", draining: false, ready: true, lastError: "reload to big failed: the engine did not become ready within 2000 ms" });
    expect(all.at(-1)).toMatchObject({ type: "reply", asker: 7, reply: { ok: false, reason: "rolled_back", duration_ms: 2000 } });
    // Every timer armed was cancelled or fired.
    const armed = all.filter((e) => e.type === "arm-timer").map((e) => (e as { timer: number }).timer);
    const cancelled = all.filter((e) => e.type === "cancel-timer").map((e) => (e as { timer: number }).timer);
    expect(armed).toEqual([2, 3, 4]);
    expect(cancelled).toEqual([2, 4]);
  });
});
