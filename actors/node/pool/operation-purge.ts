// Purge in the pool operations' state machine (./operation-machine.ts): stop the pool's engine and
// remove the model files this node cached for it, so the next preload or reload downloads them
// again. Refused while tasks run (drain the pool first) or while another operation is under way.
// Afterwards the pool is like a drained one whose replica is gone: not ready, draining, stopped,
// with the reason in last_error.

import { apiError, poolUnavailable } from "../../../contract/index.ts";
import type { PoolPurgeReply } from "../../../contract/link.ts";
import type { Draft } from "./operation-draft.ts";
import type { OperationEvent, PurgeOp } from "./operation-state.ts";

export const PURGED_REASON = "purged: the engine is stopped and its cached model files are removed; preload or reload the pool to start it again";

/** `settleWaiters` answers preloads that waited for a (re)starting engine: it will not come now. */
export function purge(d: Draft, asker: number, settleWaiters: (why: string) => void) {
  const { s, env } = d;
  if (env.config.unavailable) return d.reply(asker, { ...d.notAllowed(), model: s.model });
  if (s.op) return d.reply(asker, { ...d.busy(s.op.kind), model: s.model });
  if (env.leases > 0) {
    const message = `pool ${d.pool} has ${env.leases} task(s) running; drain it first (POST /v2/pools/${d.pool}/drain) or let them end, then purge`;
    return d.reply(asker, { ...d.failure("busy", poolUnavailable(message)), model: s.model });
  }
  settleWaiters("the pool is being purged");
  const op: PurgeOp = { kind: "purge", id: d.nextId(), startedAt: env.now, asker, phase: "stopping", timer: null };
  s.op = op;
  // Out of placement at once, as for a drain.
  s.draining = true;
  d.log("info", `Purging pool ${d.pool}: stopping its engine and removing its cached model files`, { model: s.model });
  d.publish();
  d.emit({ type: "stop-replica", op: op.id });
}

export function purgeStopped(d: Draft, op: PurgeOp, error: string | undefined) {
  if (op.phase !== "stopping") return;
  if (error) d.log("warn", `Stopping the engine of pool ${d.pool} reported an error`, { error });
  const { s } = d;
  s.ready = false;
  s.live = false;
  s.stopped = true;
  op.phase = "removing";
  d.emit({ type: "drop-leases" });
  d.emit({ type: "purge-files", op: op.id });
}

export function purged(d: Draft, ev: Extract<OperationEvent, { type: "purged" }>) {
  const { s, env } = d;
  const op = s.op;
  if (op?.kind !== "purge" || op.id !== ev.op || op.phase !== "removing") return;
  s.op = null;
  const duration_ms = env.now - op.startedAt;
  const bytes = ev.removed.reduce((n, f) => n + f.bytes, 0);
  let reply: PoolPurgeReply;
  if (ev.error) {
    s.lastError = `purge failed: ${ev.error}; the engine is stopped`;
    d.log("error", `Purge of pool ${d.pool}: a cached model file could not be removed`, { error: ev.error, removed: ev.removed.map((f) => f.path) });
    reply = { ...d.failure("purge_failed", apiError("INTERNAL", `pool ${d.pool}: the engine is stopped but ${ev.error}`)), model: s.model, duration_ms };
  } else {
    s.lastError = PURGED_REASON;
    d.log("info", `Pool ${d.pool} purged`, { model: s.model, removed: ev.removed.map((f) => f.path), bytes_freed: bytes, kept: ev.kept, duration_ms });
    reply = { ok: true, node_id: env.config.nodeId, pool_id: d.pool, removed: ev.removed, ...(ev.kept ? { kept: ev.kept } : {}), model: s.model, duration_ms };
  }
  d.publish();
  d.reply(op.asker, reply);
}
