// Wire shapes of sessions (/v2/sessions) and the session budget snapshot that rides on the
// X-Budget-* headers and SSE metrics frames. Sessions are metadata only: no prompts, no outputs.

import { z } from "zod";

export const SessionInfoV2 = z.object({
  session_id: z.string(),
  ttl_ms_remaining: z.number().int().min(0),
  turns: z.number().int().min(0),
  kv_bytes: z.number().int().min(0),
  kv_warmth: z.boolean(),
  tokens_budget_remaining: z.number().int().min(0),
  time_budget_remaining_ms: z.number().int().min(0),
  cost_budget_remaining: z.number().min(0),
});
export type SessionInfoV2 = z.infer<typeof SessionInfoV2>;

/** Remaining budgets of one session (or the defaults, for a task without a session). */
export interface SessionBudgets {
  tokens_remaining: number;
  time_remaining_ms: number;
  cost_remaining: number;
  kv_warmth: boolean;
}

export const BUDGET_HEADER = {
  tokens: "X-Budget-Tokens-Remaining",
  time: "X-Budget-Time-Remaining-Ms",
  cost: "X-Budget-Cost-Remaining",
} as const;

/** The three X-Budget-* headers (docs/contract.md#tasks), keyed by header name. */
export function budgetHeaders(budgets: Omit<SessionBudgets, "kv_warmth">): Record<string, string> {
  return {
    [BUDGET_HEADER.tokens]: String(Math.max(0, Math.floor(budgets.tokens_remaining))),
    [BUDGET_HEADER.time]: String(Math.max(0, Math.floor(budgets.time_remaining_ms))),
    [BUDGET_HEADER.cost]: formatCost(budgets.cost_remaining),
  };
}

/** Up to 6 decimals, trailing zeros dropped ("2", "1.9998"); never exponent notation. */
export function formatCost(cost: number): string {
  if (!Number.isFinite(cost) || cost <= 0) return "0";
  return cost.toFixed(6).replace(/\.?0+$/, "");
}


export interface SessionsPort {
  /** Undefined for an unknown or expired session. */
  get(id: string): Promise<SessionInfoV2 | undefined>;
  /** Forgets the session; a no-op for an unknown one. */
  delete(id: string): Promise<void>;
}
