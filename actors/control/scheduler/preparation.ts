// The `preparation.steps` of a 202 (docs/contract.md#tasks): when no pool can serve a task
// yet, what the pools that will serve it are still doing. A node reports its pools' model steps
// (download, verification, with progress) in its snapshots; a pool that is starting without such
// steps is a `pool_warmup`. Pure: the scheduler passes the nodes it knows.

import type { PreparationStep } from "../../../contract/index.ts";
import type { NodeEntry } from "../registry/protocol.ts";
import { effectiveMode, type PlacementOverrides } from "./placement.ts";

/** Steps the task waits on, or undefined when a ready pool can take it (or none will). */
export function preparationFor(nodes: readonly NodeEntry[], model: string, placement?: PlacementOverrides): PreparationStep[] | undefined {
  const pinned = effectiveMode(placement) === "pin" ? placement?.pin_pool_id : undefined;
  const serving = nodes
    .filter((n) => n.online && n.agent !== undefined && (placement?.node_id === undefined || n.node_id === placement.node_id))
    .flatMap((n) => n.pools.filter((p) => p.models_available.includes(model) && !p.draining && (pinned === undefined || p.pool_id === pinned)).map((p) => ({ node: n.node_id, pool: p })))
    .filter(({ pool }) => !placement?.avoid_pools?.includes(pool.pool_id));
  if (serving.length === 0 || serving.some(({ pool }) => pool.ready)) return undefined;
  return serving
    .sort((a, b) => a.node.localeCompare(b.node) || a.pool.pool_id.localeCompare(b.pool.pool_id))
    .flatMap(({ node, pool }): PreparationStep[] => {
      const where = { node_id: node, pool_id: pool.pool_id };
      if (pool.preparation && pool.preparation.length > 0) return pool.preparation.map((s) => ({ ...s, ...where }));
      return [
        {
          id: `pool:${pool.pool_id}`,
          kind: "pool_warmup",
          group: "pool",
          description: pool.last_error ? `pool ${pool.pool_id} on node ${node} is starting: ${pool.last_error}` : `pool ${pool.pool_id} on node ${node} is starting`,
          estimated_ms: 0,
          bytes_total: 0,
          status: "running",
          ...where,
        },
      ];
    });
}
