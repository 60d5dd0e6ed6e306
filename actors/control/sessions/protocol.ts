// Messages of the sessions actor and their replies. One sessions actor per control plane holds
// per-session metadata (turns, TTL, budgets, last replica); never prompts or outputs.

import type { ActorRef } from "../../../runtime/index.ts";
import type { ErrorEnvelope, SessionBudgets, SessionInfoV2 } from "../../../contract/index.ts";

export interface ReplicaKey {
  node_id: string;
  pool_id: string;
  replica_id: string;
}

export type SessionsMsg =
  /** A task names the session at admission: creates it lazily, checks turns and budgets, counts the turn. */
  | { type: "begin"; session_id: string; task_id: string; reserve_tokens: number }
  /** The task named at `begin` was not admitted after all (e.g. the queue refused it): undo its turn. */
  | { type: "abort"; session_id: string; task_id: string }
  /** At a task's end (any end, also cancel or failure): releases its reservation, spends what it used. */
  | { type: "spend"; session_id: string; task_id: string; tokens_out: number; decode_ms: number }
  /** Placement asks where the session ran last. */
  | { type: "affinity"; session_id: string }
  /** At a task's first token: where the session runs now. */
  | ({ type: "warm"; session_id: string } & ReplicaKey)
  | { type: "budgets"; session_id: string }
  | { type: "get"; session_id: string }
  | { type: "delete"; session_id: string }
  /** Private: periodic pruning of expired sessions. */
  | { type: "sweep" };

export type BeginReply = { ok: true; budgets: SessionBudgets } | { ok: false; error: ErrorEnvelope };

/** `kv_migrated` is always false: KV is never moved between workers (docs/contract.md#sessions). */
export type WarmReply = { kv_warmth: boolean; kv_migrated: false } | undefined;

export interface SessionsReplies {
  begin: BeginReply;
  spend: boolean;
  abort: boolean;
  affinity: ReplicaKey | undefined;
  warm: WarmReply;
  /** The defaults for an unknown session, so callers need no special case. */
  budgets: SessionBudgets;
  get: SessionInfoV2 | undefined;
  delete: true;
}

export type SessionsRef = ActorRef<SessionsMsg, SessionsReplies>;
