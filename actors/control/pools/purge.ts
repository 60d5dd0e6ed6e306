// Purge across the nodes holding a pool (POST /v2/pools/{id}/purge): every node at once stops the
// pool's engine and removes the model files it downloaded for it, so the next preload or reload
// fetches them again (docs/contract.md#pools-control). A node refuses while tasks run on the pool
// (busy: drain it first); the others go on, and `nodes` says which purged.
//
// Outcomes: every node purged → 200. A node busy → 409 POOL_UNAVAILABLE. A node offline or silent
// → 503 NODE_UNAVAILABLE. A file that could not be removed → 500 INTERNAL. Nodes that no longer
// hold the pool are skipped.

import type { Clock, Logger } from "../../../runtime/index.ts";
import { notFound, type PoolPurgeNodeV2, type PoolPurgeResponseV2, type PoolsOutcome } from "../../../contract/index.ts";
import { PoolPurgeReply } from "../../../contract/link.ts";
import { askNode, type Targets } from "./reload.ts";

export interface PurgeOptions {
  poolId: string;
  clock: Clock;
  log?: Logger;
  targets(): Promise<Targets>;
  /** Waits until the registry has applied the heartbeats that preceded the answers. */
  settle(): Promise<void>;
  timeoutMs: number;
}

export async function purgePool(o: PurgeOptions): Promise<PoolsOutcome<PoolPurgeResponseV2>> {
  const { poolId, clock, log } = o;
  const t = await o.targets();
  if (!t.ok) return t;
  const startedAt = clock.now();
  log?.info(`Purging pool ${poolId}`, { pool_id: poolId, nodes: t.holders.map((h) => h.node_id) });
  const replies = await Promise.all(t.holders.map((h) => askNode(h, { type: "pool-purge", pool_id: poolId }, PoolPurgeReply, o.timeoutMs)));
  await o.settle();
  const held = replies.filter((r) => r.ok || r.reason !== "not_found");
  const nodes = held.map((r): PoolPurgeNodeV2 =>
    r.ok
      ? { node_id: r.node_id, purged: true, removed: r.removed, bytes_freed: r.removed.reduce((n, f) => n + f.bytes, 0), ...(r.kept ? { kept: r.kept } : {}), model: r.model, duration_ms: r.duration_ms }
      : { node_id: r.node_id, purged: false, ...("model" in r ? { model: r.model, duration_ms: r.duration_ms } : {}), error: r.error },
  );
  const duration_ms = clock.now() - startedAt;
  const bytes_freed = nodes.reduce((n, x) => n + (x.bytes_freed ?? 0), 0);
  const failed = held.filter((r): r is Extract<PoolPurgeReply, { ok: false }> => !r.ok);
  if (held.length === 0) return { ok: false, error: notFound(`pool ${poolId} not found`) };
  if (failed.length === 0) {
    log?.info(`Pool ${poolId} purged`, { pool_id: poolId, bytes_freed, duration_ms });
    return { ok: true, value: { pool_id: poolId, purged: true, bytes_freed, duration_ms, nodes } };
  }
  const first = failed.find((r) => r.reason === "busy") ?? failed[0]!;
  log?.warn(`Purge of pool ${poolId} failed`, { pool_id: poolId, code: first.error.code, reason: first.reason, duration_ms });
  return { ok: false, error: first.error, conflict: first.reason === "busy", nodes };
}
