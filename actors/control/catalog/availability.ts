// Which nodes hold which models (GET /v2/catalog/availability), in both shapes the contract asks
// for (docs/contract.md#catalog): the per-model list and the per-node map.
// Pure: the registry's node list in, the response out.

import type { CatalogAvailability, NodeInfo } from "../../../contract/index.ts";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * A node holds a model when any of its pools lists it in `models_available`. Only online nodes
 * count in `models`, `total_models`, `replicated_models` and `single_node_models`; offline nodes
 * still appear in `nodes` with `online:false`. `total_capacity` sums `slots_total` of the ready,
 * not draining pools of online nodes that hold the model (a draining pool takes no new work).
 */
export function buildAvailability(nodes: NodeInfo[]): CatalogAvailability {
  const perNode: CatalogAvailability["nodes"] = {};
  const holders = new Map<string, Set<string>>();
  const capacity = new Map<string, number>();
  let onlineCount = 0;

  for (const node of [...nodes].sort((a, b) => byString(a.node_id, b.node_id))) {
    const online = node.status === "Online";
    if (online) onlineCount++;
    const models = new Set<string>();
    const pools = [...node.pools]
      .sort((a, b) => byString(a.pool_id, b.pool_id))
      .map((p) => {
        const poolModels = [...new Set(p.models_available)].sort(byString);
        for (const m of poolModels) {
          models.add(m);
          if (online && p.ready && !p.draining) capacity.set(m, (capacity.get(m) ?? 0) + p.slots_total);
        }
        return { pool_id: p.pool_id, ready: p.ready, models: poolModels };
      });
    perNode[node.node_id] = { node_id: node.node_id, address: node.address ?? null, online, models: [...models].sort(byString), pools };
    if (!online) continue;
    for (const m of models) {
      if (!holders.has(m)) holders.set(m, new Set());
      holders.get(m)!.add(node.node_id);
    }
  }

  const modelIds = [...holders.keys()].sort(byString);
  const models = modelIds.map((model_id) => {
    const ids = [...holders.get(model_id)!].sort(byString);
    return { model_id, nodes: ids, total_nodes: ids.length, total_capacity: capacity.get(model_id) ?? 0 };
  });
  return {
    models,
    nodes: perNode,
    total_models: modelIds.length,
    // On every online node, and only meaningful with more than one.
    replicated_models: onlineCount > 1 ? models.filter((m) => m.total_nodes === onlineCount).map((m) => m.model_id) : [],
    single_node_models: models.filter((m) => m.total_nodes === 1).map((m) => m.model_id),
  };
}
