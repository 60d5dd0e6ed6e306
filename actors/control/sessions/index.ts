// Sessions: per-session turns, TTL, budgets and replica affinity.
export { sessionsActor, sessionsPort, defaultBudgets, SESSION_DEFAULTS, type SessionsOptions, type SessionBudgetOptions } from "./sessions.ts";
export type { SessionsMsg, SessionsReplies, SessionsRef, BeginReply, WarmReply, ReplicaKey } from "./protocol.ts";
export { budgetHeaders, formatCost, BUDGET_HEADER, SessionInfoV2, type SessionBudgets } from "../../../contract/index.ts";
