// Sessions actor: lazily created per-session metadata (turns, TTL, token/time/cost budgets, the
// replica it last ran on). Enforces the turn limit and budgets at admission (docs/contract.md#sessions)
// and accounts each task's use at its end. Metadata only: never prompts or outputs. With a state
// store, every change is written behind (coalesced per session, committed within milliseconds,
// never awaited on the admission path) and live sessions are loaded at start, so a restart keeps
// them; reservations of tasks in flight are not kept (no task survives a restart).

import type { ActorFactory, Logger } from "../../../runtime/index.ts";
import type { StateStore } from "../../../adapters/storage/state-store.ts";
import { type ErrorEnvelope, invalidParams, type SessionBudgets, type SessionInfoV2, type SessionsPort } from "../../../contract/index.ts";
import type { BeginReply, ReplicaKey, SessionsMsg, SessionsRef } from "./protocol.ts";

export interface SessionBudgetOptions {
  tokens?: number;
  time_ms?: number;
  cost?: number;
}

export interface SessionsOptions {
  log: Logger;
  /** Idle lifetime; refreshed on each accepted turn. */
  ttlMs?: number;
  maxTurns?: number;
  budgets?: SessionBudgetOptions;
  /** Placeholder price per generated token (docs/contract.md#sessions). */
  costPerToken?: number;
  /** How often expired sessions are pruned besides on access. */
  sweepMs?: number;
  /** Bound on live sessions, so clients naming fresh ids cannot grow memory without limit. */
  maxSessions?: number;
  /** Where sessions persist; without one they live in memory only. */
  store?: StateStore;
}

export const SESSION_DEFAULTS = {
  ttlMs: 600_000,
  maxTurns: 8,
  tokens: 1_000_000,
  timeMs: 600_000,
  cost: 2.0,
  costPerToken: 0.000002,
  sweepMs: 60_000,
  maxSessions: 100_000,
};

type Resolved = typeof SESSION_DEFAULTS;

function resolve(options: Omit<SessionsOptions, "log" | "store"> = {}): Resolved {
  const d = SESSION_DEFAULTS;
  return {
    ttlMs: options.ttlMs ?? d.ttlMs,
    maxTurns: options.maxTurns ?? d.maxTurns,
    tokens: options.budgets?.tokens ?? d.tokens,
    timeMs: options.budgets?.time_ms ?? d.timeMs,
    cost: options.budgets?.cost ?? d.cost,
    costPerToken: options.costPerToken ?? d.costPerToken,
    sweepMs: options.sweepMs ?? d.sweepMs,
    maxSessions: options.maxSessions ?? d.maxSessions,
  };
}

/** Budgets of a fresh session: what a task without a session_id reports. */
export function defaultBudgets(options: Omit<SessionsOptions, "log" | "store"> = {}): SessionBudgets {
  const o = resolve(options);
  return { tokens_remaining: o.tokens, time_remaining_ms: o.timeMs, cost_remaining: o.cost, kv_warmth: false };
}

interface SessionRecord {
  id: string;
  expiresAt: number;
  turns: number;
  spentTokens: number;
  spentTimeMs: number;
  spentCost: number;
  /** Tokens held by tasks admitted but not yet ended, so concurrent turns cannot overdraw. */
  reserved: Map<string, number>;
  last?: ReplicaKey;
  kvWarmth: boolean;
}

/** What is stored of a session: everything but the reservations of tasks in flight. */
interface StoredSession {
  turns: number;
  spentTokens: number;
  spentTimeMs: number;
  spentCost: number;
  last?: ReplicaKey;
  kvWarmth: boolean;
}

// Float noise from summing per-token prices must not show up as 1.9997999999999998.
const roundCost = (x: number) => Math.max(0, Math.round(x * 1e9) / 1e9);
const nonNegative = (x: number) => (Number.isFinite(x) && x > 0 ? x : 0);

export function sessionsActor(options: SessionsOptions): ActorFactory<SessionsMsg> {
  const o = resolve(options);
  const { log } = options;
  const { store } = options;
  return (ctx) => {
    const sessions = new Map<string, SessionRecord>();
    const now = () => ctx.clock.now();

    const failed = (e: unknown) => log.warn("Could not store a session", { error: (e as Error).message });
    /** Writes the session behind: the store coalesces repeated changes and retries a failed commit. */
    const save = (s: SessionRecord) => {
      if (!store) return;
      const value: StoredSession = { turns: s.turns, spentTokens: s.spentTokens, spentTimeMs: s.spentTimeMs, spentCost: s.spentCost, last: s.last, kvWarmth: s.kvWarmth };
      store.sessions.put(s.id, value, { expires_ms: s.expiresAt, coalesce: true, retry: true }).catch(failed);
    };
    const forget = (id: string) => void store?.sessions.delete(id, { coalesce: true, retry: true }).catch(failed);

    const live = (id: string): SessionRecord | undefined => {
      const s = sessions.get(id);
      if (s && s.expiresAt <= now()) {
        sessions.delete(id);
        forget(id);
        log.debug(`Session ${id} expired`, { session_id: id, turns: s.turns });
        return undefined;
      }
      return s;
    };

    const load = async () => {
      if (!store) return;
      let expired = 0;
      for (const r of await store.sessions.load()) {
        const v = r.value as Partial<StoredSession>;
        if (r.expires_ms === undefined || r.expires_ms <= now() || typeof v !== "object" || v === null) {
          forget(r.id);
          expired++;
          continue;
        }
        sessions.set(r.id, {
          id: r.id,
          expiresAt: r.expires_ms,
          turns: v.turns ?? 0,
          spentTokens: v.spentTokens ?? 0,
          spentTimeMs: v.spentTimeMs ?? 0,
          spentCost: v.spentCost ?? 0,
          reserved: new Map(),
          last: v.last,
          kvWarmth: v.kvWarmth ?? false,
        });
      }
      if (sessions.size + expired > 0) log.info(`Loaded ${sessions.size} live session(s) from the state store`, { sessions: sessions.size, expired });
    };

    const prune = () => {
      for (const id of sessions.keys()) live(id);
    };

    const reservedTokens = (s: SessionRecord) => {
      let n = 0;
      for (const v of s.reserved.values()) n += v;
      return n;
    };

    const budgetsOf = (s: SessionRecord): SessionBudgets => {
      const held = reservedTokens(s);
      return {
        tokens_remaining: Math.max(0, o.tokens - s.spentTokens - held),
        time_remaining_ms: Math.max(0, Math.floor(o.timeMs - s.spentTimeMs)),
        cost_remaining: roundCost(o.cost - s.spentCost - held * o.costPerToken),
        kv_warmth: s.kvWarmth,
      };
    };

    const reject = (label: string, message: string, retryAfterMs: number, retriable = true): ErrorEnvelope => ({
      code: "ADMISSION_REJECT",
      message,
      policy_label: label,
      retriable,
      retry_after_ms: Math.max(1, Math.ceil(retryAfterMs)),
    });

    /** Why session `s` cannot take one more turn reserving `reserve` tokens; checked in this order. */
    const refusal = (s: SessionRecord, reserve: number, ttlLeft: number): ErrorEnvelope | undefined => {
      const b = budgetsOf(s);
      if (s.turns >= o.maxTurns) return reject("session.turns", `session ${s.id} has used all ${o.maxTurns} turns`, ttlLeft);
      if (b.tokens_remaining <= 0 || reserve > b.tokens_remaining) {
        return reject("session.tokens_budget", `session ${s.id} has ${b.tokens_remaining} tokens left, the task reserves ${reserve}`, ttlLeft);
      }
      if (b.time_remaining_ms <= 0) return reject("session.time_budget", `session ${s.id} has used its time budget of ${o.timeMs} ms`, ttlLeft);
      if (b.cost_remaining <= 0 || reserve * o.costPerToken > b.cost_remaining + 1e-12) {
        return reject("session.cost_budget", `session ${s.id} has ${b.cost_remaining} cost left`, ttlLeft);
      }
      return undefined;
    };

    const begin = (msg: Extract<SessionsMsg, { type: "begin" }>): BeginReply => {
      if (typeof msg.session_id !== "string" || msg.session_id.length === 0 || !Number.isInteger(msg.reserve_tokens) || msg.reserve_tokens < 0) {
        const error: ErrorEnvelope = invalidParams("session_id must be non-empty and reserve_tokens a non-negative integer");
        return { ok: false, error };
      }
      const t = now();
      const existing = live(msg.session_id);
      const ttlLeft = existing ? existing.expiresAt - t : o.ttlMs;
      // More than a whole session may spend: waiting for a fresh session would not help.
      if (msg.reserve_tokens > o.tokens || msg.reserve_tokens * o.costPerToken > o.cost + 1e-12) {
        const label = msg.reserve_tokens > o.tokens ? "session.tokens_budget" : "session.cost_budget";
        return { ok: false, error: reject(label, `a task reserving ${msg.reserve_tokens} tokens exceeds the per-session budget`, ttlLeft, false) };
      }
      if (!existing && sessions.size >= o.maxSessions) {
        prune();
        if (sessions.size >= o.maxSessions) {
          let soonest = o.ttlMs;
          for (const s of sessions.values()) soonest = Math.min(soonest, s.expiresAt - t);
          return { ok: false, error: reject("session.capacity", `too many live sessions (${o.maxSessions})`, soonest) };
        }
      }
      const s: SessionRecord = existing ?? {
        id: msg.session_id,
        expiresAt: t + o.ttlMs,
        turns: 0,
        spentTokens: 0,
        spentTimeMs: 0,
        spentCost: 0,
        reserved: new Map(),
        kvWarmth: false,
      };
      const error = refusal(s, msg.reserve_tokens, ttlLeft);
      if (error) {
        log.info(`Session ${s.id} refused task ${msg.task_id}: ${error.policy_label}`, {
          session_id: s.id,
          task_id: msg.task_id,
          policy_label: error.policy_label,
          retry_after_ms: error.retry_after_ms,
        });
        return { ok: false, error };
      }
      if (!existing) {
        sessions.set(s.id, s);
        log.debug(`Session ${s.id} created`, { session_id: s.id, task_id: msg.task_id });
      }
      s.turns += 1;
      s.expiresAt = t + o.ttlMs;
      s.reserved.set(msg.task_id, msg.reserve_tokens);
      save(s);
      return { ok: true, budgets: budgetsOf(s) };
    };

    const spend = (msg: Extract<SessionsMsg, { type: "spend" }>): boolean => {
      const s = live(msg.session_id);
      // Only tasks this session admitted count: a late end after expiry or delete, or a
      // second end of the same task, must not charge a newer session of the same name.
      if (!s || !s.reserved.has(msg.task_id)) return false;
      s.reserved.delete(msg.task_id);
      const tokens = Math.floor(nonNegative(msg.tokens_out));
      s.spentTokens += tokens;
      s.spentTimeMs += nonNegative(msg.decode_ms);
      s.spentCost += tokens * o.costPerToken;
      save(s);
      return true;
    };

    const info = (s: SessionRecord): SessionInfoV2 => {
      const b = budgetsOf(s);
      return {
        session_id: s.id,
        ttl_ms_remaining: Math.max(0, Math.floor(s.expiresAt - now())),
        turns: s.turns,
        kv_bytes: 0,
        kv_warmth: s.kvWarmth,
        tokens_budget_remaining: b.tokens_remaining,
        time_budget_remaining_ms: b.time_remaining_ms,
        cost_budget_remaining: b.cost_remaining,
      };
    };

    return {
      async init() {
        await load();
        ctx.after(o.sweepMs, { type: "sweep" });
      },
      receive(msg) {
        switch (msg.type) {
          case "begin":
            return begin(msg);
          case "spend":
            return spend(msg);
          case "abort": {
            // The TTL refresh stays: the client was active, and undoing it would need history.
            const s = live(msg.session_id);
            if (!s || !s.reserved.delete(msg.task_id)) return false;
            s.turns = Math.max(0, s.turns - 1);
            save(s);
            return true;
          }
          case "affinity": {
            const last = live(msg.session_id)?.last;
            return last ? { ...last } : undefined;
          }
          case "warm": {
            const s = live(msg.session_id);
            if (!s) return undefined;
            const here: ReplicaKey = { node_id: msg.node_id, pool_id: msg.pool_id, replica_id: msg.replica_id };
            // Warm only when the KV cache it built is where it runs now; a move starts cold.
            s.kvWarmth = s.last !== undefined && sameReplica(s.last, here);
            s.last = here;
            save(s);
            return { kv_warmth: s.kvWarmth, kv_migrated: false };
          }
          case "budgets": {
            const s = live(msg.session_id);
            return s ? budgetsOf(s) : defaultBudgets(options);
          }
          case "get": {
            const s = live(msg.session_id);
            return s ? info(s) : undefined;
          }
          case "delete": {
            if (sessions.delete(msg.session_id)) {
              forget(msg.session_id);
              log.debug(`Session ${msg.session_id} deleted`, { session_id: msg.session_id });
            }
            return true;
          }
          case "sweep":
            prune();
            ctx.after(o.sweepMs, { type: "sweep" });
            return;
        }
      },
    };
  };
}

function sameReplica(a: ReplicaKey, b: ReplicaKey): boolean {
  return a.node_id === b.node_id && a.pool_id === b.pool_id && a.replica_id === b.replica_id;
}

/** The HTTP surface's view of the sessions actor. */
export function sessionsPort(ref: SessionsRef): SessionsPort {
  return {
    get: (id) => ref.ask({ type: "get", session_id: id }),
    async delete(id) {
      await ref.ask({ type: "delete", session_id: id });
    },
  };
}
