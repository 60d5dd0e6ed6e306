// Rolling reload across the nodes holding a pool, one node at a time in node_id order, so the
// other nodes keep serving meanwhile. Each node swaps atomically (and rolls itself back when the
// new engine fails). The first node that fails stops the roll, and the nodes already switched are
// reloaded back to their previous model, so the pool ends on one model either way.
//
// Outcomes: every online node switched → 200. A node busy, rolled back or past its drain deadline
// → 409 (`rolled_back` when something had changed and was all undone). A node whose rollback failed
// → 503 POOL_UNREADY. A node that did not answer → 503 NODE_UNAVAILABLE. Offline holders are
// skipped and listed with NODE_UNAVAILABLE.

import { describe, type Clock, type Logger } from "../../../runtime/index.ts";
import { DEFAULT_RELOAD_DRAIN_MS, type ErrorEnvelope, nodeUnavailable, notFound, type PoolReloadNodeV2, type PoolReloadRequest, type PoolReloadResponseV2, type PoolsFailure, type PoolsOutcome } from "../../../contract/index.ts";
import type { z } from "zod";
import { asPoolsAgent, PoolReloadReply, type PoolDrainMsg, type PoolOpReason, type PoolPreloadMsg, type PoolPurgeMsg, type PoolReloadMsg } from "../../../contract/link.ts";
import type { PoolHolder } from "../registry/protocol.ts";

/** The nodes an operation applies to, or why there are none. */
export type Targets = { ok: true; holders: PoolHolder[] } | PoolsFailure;

/** NODE_UNAVAILABLE for one node of a pool operation. */
export function nodeDown(nodeId: string, poolId: string, why: string): ErrorEnvelope {
  return nodeUnavailable(`node ${nodeId}: ${why}`, { pool_id: poolId });
}

/** A node that is offline, silent or garbled, as a refusal in the shape of every pool answer. */
export interface NodeRefusal {
  ok: false;
  node_id: string;
  pool_id: string;
  reason: PoolOpReason;
  error: ErrorEnvelope;
}

/**
 * Asks one holder's agent for a pool operation and checks the answer with `schema`. An offline
 * node, no answer within `timeoutMs`, or a malformed answer comes back as NODE_UNAVAILABLE.
 */
export async function askNode<R>(h: PoolHolder, msg: PoolDrainMsg | PoolReloadMsg | PoolPreloadMsg | PoolPurgeMsg, schema: z.ZodType<R>, timeoutMs: number): Promise<R | NodeRefusal> {
  const refused = (why: string): NodeRefusal => ({ ok: false, node_id: h.node_id, pool_id: msg.pool_id, reason: "unavailable", error: nodeDown(h.node_id, msg.pool_id, why) });
  if (!h.online) return refused("offline");
  try {
    const parsed = schema.safeParse(await asPoolsAgent(h.agent).ask(msg, { timeoutMs }));
    return parsed.success ? { ...parsed.data, node_id: h.node_id } : refused(`malformed ${msg.type.slice(5)} answer`);
  } catch (error) {
    return refused(`did not answer: ${describe(error)}`);
  }
}

export interface RollingReloadOptions {
  poolId: string;
  request: PoolReloadRequest;
  clock: Clock;
  log?: Logger;
  targets(): Promise<Targets>;
  /** Waits until the registry has applied the heartbeats that preceded the answers. */
  settle(): Promise<void>;
  /** Per-node wait beyond the drain deadline. */
  timeoutMs: number;
}

type Success = Extract<PoolReloadReply, { ok: true }>;

export async function rollingReload(o: RollingReloadOptions): Promise<PoolsOutcome<PoolReloadResponseV2>> {
  const { poolId, request, clock, log } = o;
  const t = await o.targets();
  if (!t.ok) return t;
  const startedAt = clock.now();
  const drainMs = request.deadline_ms ?? DEFAULT_RELOAD_DRAIN_MS;
  const to = request.new_model_ref;

  const ask = (h: PoolHolder, model: string): Promise<PoolReloadReply> =>
    askNode(h, { type: "pool-reload", pool_id: poolId, new_model_ref: model, drain_deadline_ms: drainMs }, PoolReloadReply, drainMs + o.timeoutMs);
  const entry = (r: PoolReloadReply): PoolReloadNodeV2 =>
    r.ok
      ? { node_id: r.node_id, success: true, rolled_back: false, model: r.model, previous_model: r.previous_model, engine_version: r.engine_version, duration_ms: r.duration_ms }
      : { node_id: r.node_id, success: false, rolled_back: r.reason === "rolled_back", model: r.model, previous_model: r.previous_model, duration_ms: r.duration_ms, error: r.error };

  const nodes: PoolReloadNodeV2[] = t.holders.filter((h) => !h.online).map((h) => ({ node_id: h.node_id, success: false, rolled_back: false, error: nodeDown(h.node_id, poolId, "offline") }));
  const online = t.holders.filter((h) => h.online);
  if (online.length === 0) {
    return { ok: false, error: nodeUnavailable(`no node holding pool ${poolId} is online`, { pool_id: poolId }), nodes };
  }
  log?.info(`Reloading pool ${poolId} to ${to}`, { pool_id: poolId, model: to, nodes: online.map((h) => h.node_id), drain_deadline_ms: drainMs });

  const switched: { holder: PoolHolder; reply: Success; index: number }[] = [];
  let failed: Extract<PoolReloadReply, { ok: false }> | undefined;
  for (const h of online) {
    const reply = await ask(h, to);
    nodes.push(entry(reply));
    if (reply.ok) {
      if (!reply.unchanged) switched.push({ holder: h, reply, index: nodes.length - 1 });
      continue;
    }
    // A node that does not hold the pool after all (it changed since its last heartbeat) is skipped.
    if (reply.reason === "not_found") continue;
    failed = reply;
    break;
  }

  if (!failed && nodes.some((n) => n.success)) {
    await o.settle();
    const version = nodes.find((n) => n.success && n.engine_version)?.engine_version ?? "unknown";
    log?.info(`Pool ${poolId} reloaded to ${to}`, { pool_id: poolId, model: to, duration_ms: clock.now() - startedAt });
    return { ok: true, value: { pool_id: poolId, success: true, rolled_back: false, new_engine_version: version, duration_ms: clock.now() - startedAt, model: to, nodes } };
  }
  if (!failed) return { ok: false, error: notFound(`pool ${poolId} not found`), nodes };

  // Put the nodes already switched back, newest first.
  let reverted = true;
  for (const s of [...switched].reverse()) {
    const back = await ask(s.holder, s.reply.previous_model);
    const ok = back.ok;
    reverted &&= ok;
    nodes[s.index] = { ...nodes[s.index]!, success: false, rolled_back: ok, model: ok ? back.model : s.reply.model, error: ok ? undefined : back.error };
  }
  await o.settle();
  log?.warn(`Reload of pool ${poolId} to ${to} failed on node ${failed.node_id}`, { pool_id: poolId, model: to, reason: failed.reason, error: failed.error.message, reverted });

  const changed = failed.reason === "rolled_back" || switched.length > 0;
  const conflict = failed.reason === "busy" || failed.reason === "rolled_back" || failed.reason === "drain_timeout";
  return {
    ok: false,
    error: failed.error,
    conflict,
    rolled_back: conflict && changed && reverted,
    nodes,
  };
}
