// Placement: a pure, deterministic function over pool snapshots. Filter (node online, pool ready,
// not draining, free slot, model present), then sort by most free VRAM, fewest active leases,
// then node_id and pool_id ascending. Returns a decision log either way.

export interface Candidate {
  node_id: string;
  pool_id: string;
  online: boolean;
  ready: boolean;
  draining: boolean;
  slots_total: number;
  /** Leases this control plane holds on the pool. */
  leases: number;
  vram_free_bytes?: number;
  models_available: readonly string[];
}

export interface DecisionLog {
  candidates_considered: number;
  filtered: Record<string, string>;
  selected?: string;
}

export type Placement =
  | { ok: true; node_id: string; pool_id: string; log: DecisionLog }
  | { ok: false; reason: "no_capacity" | "model_not_available"; log: DecisionLog };

export function poolKey(node_id: string, pool_id: string): string {
  return `${node_id}/${pool_id}`;
}

export function place(candidates: readonly Candidate[], modelRef: string): Placement {
  const filtered: Record<string, string> = {};
  const feasible: Candidate[] = [];
  let modelSeen = false;
  for (const c of candidates) {
    const key = poolKey(c.node_id, c.pool_id);
    const hasModel = c.models_available.includes(modelRef);
    if (hasModel && c.online) modelSeen = true;
    const why = !c.online
      ? "node offline"
      : !hasModel
        ? "model not present"
        : !c.ready
          ? "pool not ready"
          : c.draining
            ? "pool draining"
            : c.leases >= Math.max(1, c.slots_total)
              ? "no free slot"
              : undefined;
    if (why) filtered[key] = why;
    else feasible.push(c);
  }
  const log: DecisionLog = { candidates_considered: candidates.length, filtered };
  if (feasible.length === 0) return { ok: false, reason: modelSeen ? "no_capacity" : "model_not_available", log };
  feasible.sort(
    (a, b) =>
      (b.vram_free_bytes ?? 0) - (a.vram_free_bytes ?? 0) ||
      a.leases - b.leases ||
      cmp(a.node_id, b.node_id) ||
      cmp(a.pool_id, b.pool_id),
  );
  const best = feasible[0]!;
  log.selected = poolKey(best.node_id, best.pool_id);
  return { ok: true, node_id: best.node_id, pool_id: best.pool_id, log };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
