// Sessions actor on simulated time: lazy creation, the turn limit, TTL expiry and refresh, each
// budget running out, spend accounting, affinity and KV warmth, idempotent delete, the sweep, and
// sessions kept across a restart through the state store.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "../../../adapters/storage/sqlite-store.ts";
import { ActorSystem, createLogger, SimClock } from "../../../runtime/index.ts";
import { budgetHeaders } from "../../../contract/index.ts";
import type { SessionsMsg, SessionsReplies } from "./protocol.ts";
import { sessionsActor, type SessionsOptions } from "./sessions.ts";

let system: ActorSystem | undefined;
afterEach(async () => {
  await system?.shutdown();
  system = undefined;
});

async function setup(options: Omit<SessionsOptions, "log"> = {}) {
  const clock = new SimClock(1_000_000);
  system = new ActorSystem({ name: "sessions-test", clock });
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ clock, level: "debug", sink: (l) => void lines.push(JSON.parse(l)) });
  const sessions = await system.spawn<SessionsMsg, SessionsReplies>("control/sessions", sessionsActor({ log, ...options }));
  const begin = (session_id: string, task_id: string, reserve_tokens = 100) =>
    sessions.ask({ type: "begin", session_id, task_id, reserve_tokens });
  return { clock, sessions, begin, lines };
}

test("a session exists only once a task names it, with the default budgets and TTL", async () => {
  const { sessions, begin } = await setup();
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toBeUndefined();
  expect(await sessions.ask({ type: "budgets", session_id: "s1" })).toEqual({
    tokens_remaining: 1_000_000,
    time_remaining_ms: 600_000,
    cost_remaining: 2,
    kv_warmth: false,
  });

  const reply = await begin("s1", "t1", 100);
  expect(reply).toEqual({ ok: true, budgets: { tokens_remaining: 999_900, time_remaining_ms: 600_000, cost_remaining: 1.9998, kv_warmth: false } });
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toEqual({
    session_id: "s1",
    ttl_ms_remaining: 600_000,
    turns: 1,
    kv_bytes: 0,
    kv_warmth: false,
    tokens_budget_remaining: 999_900,
    time_budget_remaining_ms: 600_000,
    cost_budget_remaining: 1.9998,
  });
});

test("the ninth turn is refused with a retriable 429 envelope that waits out the TTL", async () => {
  const { clock, sessions, begin } = await setup();
  for (let i = 1; i <= 8; i++) {
    expect((await begin("s1", `t${i}`)).ok).toBe(true);
    await sessions.ask({ type: "spend", session_id: "s1", task_id: `t${i}`, tokens_out: 10, decode_ms: 5 });
  }
  await clock.advance(1_000);
  const refused = await begin("s1", "t9");
  expect(refused).toEqual({
    ok: false,
    error: {
      code: "ADMISSION_REJECT",
      message: expect.stringContaining("8 turns"),
      policy_label: "session.turns",
      retriable: true,
      retry_after_ms: 599_000,
    },
  });
  // A refused turn neither counts nor refreshes the TTL.
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ turns: 8, ttl_ms_remaining: 599_000 });

  await clock.advance(599_000);
  expect(await begin("s1", "t9")).toMatchObject({ ok: true, budgets: { tokens_remaining: 999_900 } });
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ turns: 1 });
});

test("an idle session expires after its TTL; each accepted turn restarts the TTL", async () => {
  const { clock, sessions, begin } = await setup({ ttlMs: 10_000 });
  await begin("s1", "t1");
  await clock.advance(8_000);
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ ttl_ms_remaining: 2_000 });
  await begin("s1", "t2");
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ ttl_ms_remaining: 10_000, turns: 2 });
  await clock.advance(9_999);
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ ttl_ms_remaining: 1 });
  await clock.advance(1);
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toBeUndefined();
  expect(await sessions.ask({ type: "affinity", session_id: "s1" })).toBeUndefined();
  // The late end of a task from the expired session is not charged to anyone.
  expect(await sessions.ask({ type: "spend", session_id: "s1", task_id: "t2", tokens_out: 5, decode_ms: 5 })).toBe(false);
});

test("tokens: in-flight reservations count, spends release them, a task larger than the budget is never retriable", async () => {
  const { sessions, begin } = await setup({ budgets: { tokens: 100 } });
  expect(await begin("s1", "t1", 60)).toMatchObject({ ok: true, budgets: { tokens_remaining: 40 } });
  const refused = await begin("s1", "t2", 60);
  expect(refused).toMatchObject({ ok: false, error: { code: "ADMISSION_REJECT", policy_label: "session.tokens_budget", retriable: true } });
  expect(await sessions.ask({ type: "spend", session_id: "s1", task_id: "t1", tokens_out: 30, decode_ms: 100 })).toBe(true);
  expect(await begin("s1", "t2", 60)).toMatchObject({ ok: true, budgets: { tokens_remaining: 10 } });

  const never = await begin("s1", "t3", 101);
  expect(never).toMatchObject({ ok: false, error: { policy_label: "session.tokens_budget", retriable: false } });
  expect(await begin("fresh", "t4", 101)).toMatchObject({ ok: false, error: { retriable: false } });
  expect(await sessions.ask({ type: "get", session_id: "fresh" })).toBeUndefined();
});

test("time: decode time is spent at the end; an exhausted time budget refuses the next turn", async () => {
  const { sessions, begin } = await setup({ budgets: { time_ms: 1_000 } });
  await begin("s1", "t1");
  await sessions.ask({ type: "spend", session_id: "s1", task_id: "t1", tokens_out: 10, decode_ms: 400 });
  expect(await sessions.ask({ type: "budgets", session_id: "s1" })).toMatchObject({ time_remaining_ms: 600 });
  await begin("s1", "t2");
  await sessions.ask({ type: "spend", session_id: "s1", task_id: "t2", tokens_out: 10, decode_ms: 700 });
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ time_budget_remaining_ms: 0 });
  expect(await begin("s1", "t3")).toMatchObject({ ok: false, error: { code: "ADMISSION_REJECT", policy_label: "session.time_budget", retriable: true } });
});

test("cost: tokens are priced per token; a turn that could cost more than is left is refused", async () => {
  const { sessions, begin } = await setup({ budgets: { cost: 0.0001 }, costPerToken: 0.00001 });
  await begin("s1", "t1", 5);
  await sessions.ask({ type: "spend", session_id: "s1", task_id: "t1", tokens_out: 4, decode_ms: 10 });
  const budgets = await sessions.ask({ type: "budgets", session_id: "s1" });
  expect(budgets.cost_remaining).toBe(0.00006);
  expect(budgetHeaders(budgets)["X-Budget-Cost-Remaining"]).toBe("0.00006");
  expect(await begin("s1", "t2", 7)).toMatchObject({ ok: false, error: { policy_label: "session.cost_budget", retriable: true } });
  expect(await begin("s1", "t2", 6)).toMatchObject({ ok: true, budgets: { cost_remaining: 0 } });
  expect(await begin("s1", "t3", 0)).toMatchObject({ ok: false, error: { policy_label: "session.cost_budget" } });
});

test("spend accounts tokens, time and cost once per task, and the headers show it", async () => {
  const { sessions, begin } = await setup();
  await begin("s1", "t1", 100);
  expect(await sessions.ask({ type: "spend", session_id: "s1", task_id: "t1", tokens_out: 40, decode_ms: 250 })).toBe(true);
  expect(await sessions.ask({ type: "spend", session_id: "s1", task_id: "t1", tokens_out: 40, decode_ms: 250 })).toBe(false);
  expect(await sessions.ask({ type: "spend", session_id: "s1", task_id: "nope", tokens_out: 40, decode_ms: 250 })).toBe(false);
  const budgets = await sessions.ask({ type: "budgets", session_id: "s1" });
  expect(budgets).toEqual({ tokens_remaining: 999_960, time_remaining_ms: 599_750, cost_remaining: 1.99992, kv_warmth: false });
  expect(budgetHeaders(budgets)).toEqual({
    "X-Budget-Tokens-Remaining": "999960",
    "X-Budget-Time-Remaining-Ms": "599750",
    "X-Budget-Cost-Remaining": "1.99992",
  });
  expect(budgetHeaders({ tokens_remaining: 1_000_000, time_remaining_ms: 600_000, cost_remaining: 2 })["X-Budget-Cost-Remaining"]).toBe("2");
});

test("affinity follows the last replica; KV is warm only when the session stays on it", async () => {
  const { sessions, begin } = await setup();
  const r0 = { node_id: "n1", pool_id: "p0", replica_id: "r0" };
  const r1 = { node_id: "n1", pool_id: "p0", replica_id: "r1" };
  await begin("s1", "t1");
  expect(await sessions.ask({ type: "affinity", session_id: "s1" })).toBeUndefined();
  expect(await sessions.ask({ type: "warm", session_id: "s1", ...r0 })).toEqual({ kv_warmth: false, kv_migrated: false });
  expect(await sessions.ask({ type: "affinity", session_id: "s1" })).toEqual(r0);

  await begin("s1", "t2");
  expect(await sessions.ask({ type: "warm", session_id: "s1", ...r0 })).toEqual({ kv_warmth: true, kv_migrated: false });
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ kv_warmth: true });
  expect(await sessions.ask({ type: "budgets", session_id: "s1" })).toMatchObject({ kv_warmth: true });

  await begin("s1", "t3");
  expect(await sessions.ask({ type: "warm", session_id: "s1", ...r1 })).toEqual({ kv_warmth: false, kv_migrated: false });
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ kv_warmth: false });
  expect(await sessions.ask({ type: "affinity", session_id: "s1" })).toEqual(r1);
  expect(await sessions.ask({ type: "warm", session_id: "ghost", ...r1 })).toBeUndefined();
});

test("delete forgets the session and is idempotent; the next task starts a fresh one", async () => {
  const { sessions, begin } = await setup();
  await begin("s1", "t1", 500);
  expect(await sessions.ask({ type: "delete", session_id: "s1" })).toBe(true);
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toBeUndefined();
  expect(await sessions.ask({ type: "delete", session_id: "s1" })).toBe(true);
  expect(await sessions.ask({ type: "spend", session_id: "s1", task_id: "t1", tokens_out: 500, decode_ms: 1 })).toBe(false);
  await begin("s1", "t2", 100);
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ turns: 1, tokens_budget_remaining: 999_900 });
});

test("the periodic sweep prunes expired sessions nobody asks about", async () => {
  const { clock, begin, lines } = await setup({ ttlMs: 5_000, sweepMs: 1_000 });
  await begin("s1", "t1");
  await begin("s2", "t2");
  await clock.advance(4_999);
  expect(lines.filter((l) => String(l.msg).includes("expired"))).toEqual([]);
  await clock.advance(1_001);
  const expired = lines.filter((l) => String(l.msg).includes("expired")).map((l) => l.session_id);
  expect(expired.sort()).toEqual(["s1", "s2"]);
});

test("live sessions are bounded; a new one waits for the soonest expiry", async () => {
  const { clock, begin } = await setup({ ttlMs: 10_000, maxSessions: 2 });
  await begin("s1", "t1");
  await clock.advance(3_000);
  await begin("s2", "t2");
  expect(await begin("s3", "t3")).toMatchObject({ ok: false, error: { policy_label: "session.capacity", retriable: true, retry_after_ms: 7_000 } });
  expect((await begin("s1", "t4")).ok).toBe(true);
  await clock.advance(7_000);
  expect((await begin("s3", "t3")).ok).toBe(false);
  await clock.advance(3_000);
  expect((await begin("s3", "t3")).ok).toBe(true);
});

test("malformed begins are answered with INVALID_PARAMS, not a crash", async () => {
  const { sessions, begin } = await setup();
  expect(await begin("", "t1")).toMatchObject({ ok: false, error: { code: "INVALID_PARAMS" } });
  expect(await begin("s1", "t1", -1)).toMatchObject({ ok: false, error: { code: "INVALID_PARAMS" } });
  expect(await begin("s1", "t1", 1.5)).toMatchObject({ ok: false, error: { code: "INVALID_PARAMS" } });
  expect((await begin("s1", "t1", 1)).ok).toBe(true);
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ turns: 1 });
});

test("abort undoes a turn whose task the queue refused, once", async () => {
  const { sessions, begin } = await setup({ maxTurns: 1 });
  await begin("s1", "t1", 300);
  expect(await sessions.ask({ type: "abort", session_id: "s1", task_id: "t1" })).toBe(true);
  expect(await sessions.ask({ type: "abort", session_id: "s1", task_id: "t1" })).toBe(false);
  expect(await sessions.ask({ type: "get", session_id: "s1" })).toMatchObject({ turns: 0, tokens_budget_remaining: 1_000_000 });
  expect((await begin("s1", "t2")).ok).toBe(true);
  expect(await begin("s1", "t3")).toMatchObject({ ok: false, error: { policy_label: "session.turns" } });
});

test("with a state store, sessions survive a restart (spent budgets, turns, affinity), reservations and expired ones do not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "sessions-store-"));
  const store = await openSqliteStore({ dir, retention: { maxAgeMs: 1e12, maxBytes: 1e12, intervalMs: 0 } });
  try {
    const first = await setup({ store, ttlMs: 60_000 });
    await first.begin("kept", "t1", 100);
    await first.sessions.ask({ type: "spend", session_id: "kept", task_id: "t1", tokens_out: 40, decode_ms: 500 });
    await first.sessions.ask({ type: "warm", session_id: "kept", node_id: "n1", pool_id: "p1", replica_id: "r0" });
    await first.begin("kept", "t2", 100); // in flight at the "crash": its reservation is not kept
    await first.begin("short", "t3", 1);
    await first.sessions.ask({ type: "delete", session_id: "short" });
    await store.flush();
    await system!.shutdown();

    const again = await setup({ store, ttlMs: 60_000 });
    expect(await again.sessions.ask({ type: "get", session_id: "kept" })).toMatchObject({ turns: 2, tokens_budget_remaining: 1_000_000 - 40, time_budget_remaining_ms: 600_000 - 500 });
    expect(await again.sessions.ask({ type: "affinity", session_id: "kept" })).toEqual({ node_id: "n1", pool_id: "p1", replica_id: "r0" });
    expect(await again.sessions.ask({ type: "get", session_id: "short" })).toBeUndefined();
    await system!.shutdown();

    // A session whose TTL passed while the control plane was down is gone, and removed from the store.
    const later = new SimClock(1_000_000 + 120_000);
    system = new ActorSystem({ name: "sessions-test", clock: later });
    const log = createLogger({ clock: later, sink: () => {} });
    const sessions = await system.spawn<SessionsMsg, SessionsReplies>("control/sessions", sessionsActor({ log, store }));
    expect(await sessions.ask({ type: "get", session_id: "kept" })).toBeUndefined();
    await store.flush();
    expect(await store.sessions.load()).toEqual([]);
  } finally {
    await system?.shutdown();
    system = undefined;
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
