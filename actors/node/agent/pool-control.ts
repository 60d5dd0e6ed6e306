// The agent's side of pools control: checks the control plane's pool-health/drain/reload/preload payloads
// once, where they cross the link, and shapes the answers for pools that are missing or silent.

import { describe, type Outcome } from "../../../runtime/index.ts";
import { type ErrorEnvelope, invalidParams, poolUnavailable, type PoolView } from "../../../contract/index.ts";
import {
  PoolDrainPayload,
  PoolHealthPayload,
  PoolPreloadPayload,
  PoolPurgePayload,
  PoolReloadPayload,
  type PoolDrainMsg,
  type PoolHealthMsg,
  type PoolHealthReply,
  type PoolOpReason,
  type PoolPreloadMsg,
  type PoolPurgeMsg,
  type PoolReloadMsg,
} from "../../../contract/link.ts";
import type { PoolOpResult } from "../pool/protocol.ts";

export type PoolControlMsg = PoolHealthMsg | PoolDrainMsg | PoolReloadMsg | PoolPreloadMsg | PoolPurgeMsg;

export interface PoolRefusal {
  ok: false;
  node_id: string;
  pool_id: string;
  reason: PoolOpReason;
  error: ErrorEnvelope;
}

export function poolRefusal(nodeId: string, poolId: string, reason: PoolOpReason, error: Omit<ErrorEnvelope, "pool_id">): PoolRefusal {
  return { ok: false, node_id: nodeId, pool_id: poolId, reason, error: { ...error, pool_id: poolId } };
}

const SCHEMAS = { "pool-health": PoolHealthPayload, "pool-drain": PoolDrainPayload, "pool-reload": PoolReloadPayload, "pool-preload": PoolPreloadPayload, "pool-purge": PoolPurgePayload } as const;

/** The message as checked, or the refusal to answer with. */
export function checkPoolControl(msg: PoolControlMsg, nodeId: string): { ok: true; msg: PoolControlMsg } | { ok: false; refusal: PoolRefusal } {
  const parsed = SCHEMAS[msg.type].safeParse(msg);
  if (parsed.success) return { ok: true, msg: parsed.data };
  const issue = parsed.error.issues[0];
  const poolId = typeof msg.pool_id === "string" ? msg.pool_id : "";
  return {
    ok: false,
    refusal: poolRefusal(nodeId, poolId, "invalid", invalidParams(`${msg.type}: ${issue?.path.join(".") || "payload"}: ${issue?.message ?? "invalid"}`)),
  };
}

/** A pool manager that does not answer (it is restarting) has no live engine to report. */
export function silentPoolHealth(nodeId: string, poolId: string, last: PoolView | undefined, error: unknown): PoolHealthReply {
  return {
    ok: true,
    node_id: nodeId,
    pool_id: poolId,
    live: false,
    ready: false,
    draining: last?.draining ?? false,
    engine: last?.engine ?? "unknown",
    engine_version: last?.engine_version,
    model: last?.models_available[0] ?? "",
    active_leases: 0,
    slots_free: 0,
    slots_total: last?.slots_total ?? 0,
    last_error: `pool manager did not answer: ${describe(error)}`,
  };
}

/** Turns a pool's drain/reload/preload answer (or its silence) into what the agent replies. */
export function poolOpAnswer<R>(nodeId: string, poolId: string, outcome: Outcome<PoolOpResult<R>>): { result: R | PoolRefusal; snapshot?: PoolView } {
  if (outcome.ok) return { result: outcome.value.reply, snapshot: outcome.value.snapshot };
  return {
    result: poolRefusal(nodeId, poolId, "unavailable", poolUnavailable(`pool ${poolId} on node ${nodeId} did not answer: ${describe(outcome.error)}`)),
  };
}
