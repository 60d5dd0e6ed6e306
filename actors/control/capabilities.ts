// GET /v2/meta/capabilities from the live pools: one entry per engine with its largest ctx,
// versions, and concurrency (slots of ready pools on online nodes).

import { API_VERSION, type CapabilitiesV2, type NodeInfo } from "../../contract/index.ts";

/** Used for a pool that does not report its context size. */
export const DEFAULT_CTX_MAX = 32768;
/** TaskRequestV2.max_tokens upper bound. */
export const MAX_TOKENS_OUT = 50_000;

export function capabilities(nodes: readonly NodeInfo[]): CapabilitiesV2 {
  const byEngine = new Map<string, CapabilitiesV2["engines"][number]>();
  for (const node of nodes) {
    // Only linked nodes can be given tasks; REST-registered ones are listed, not served.
    if (node.status !== "Online" || !node.linked) continue;
    for (const pool of node.pools) {
      const e = byEngine.get(pool.engine) ?? {
        engine: pool.engine,
        ctx_max: 0,
        supported_workloads: [],
        features: {},
        rate_limits: {},
        engine_versions: [],
        concurrency: 0,
        slots_total: 0,
        pools: 0,
        max_tokens_out: MAX_TOKENS_OUT,
        batching: false,
      };
      e.ctx_max = Math.max(e.ctx_max, pool.ctx_max ?? DEFAULT_CTX_MAX);
      for (const w of pool.workloads ?? ["completion"]) if (!e.supported_workloads.includes(w)) e.supported_workloads.push(w);
      if (pool.engine_version && !e.engine_versions.includes(pool.engine_version)) e.engine_versions.push(pool.engine_version);
      const slots = Math.max(1, pool.slots_total);
      e.slots_total += slots;
      if (pool.ready && !pool.draining) e.concurrency += slots;
      e.pools++;
      e.batching ||= slots > 1;
      byEngine.set(pool.engine, e);
    }
  }
  const engines = [...byEngine.values()].sort((a, b) => (a.engine < b.engine ? -1 : 1));
  for (const e of engines) {
    e.engine_versions.sort();
    e.supported_workloads.sort();
  }
  return { api_version: API_VERSION, engines };
}
