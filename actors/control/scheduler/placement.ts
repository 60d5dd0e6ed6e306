// Placement: a pure, deterministic function over pool snapshots (docs/contract.md#tasks).
// Filter every candidate with one logged reason, narrow to the preferred pools when asked, then
// sort: session affinity (unless kv_hint "cold"), most free VRAM, fewest leases, then node_id,
// pool_id and replica_id ascending. The sort is a total order, so the input order never matters.

import { type EngineFeature, ENGINE_FEATURES } from "../../../contract/index.ts";

export type PlacementMode = "pin" | "prefer" | "auto";

/** `TaskRequestV2.placement`. */
export interface PlacementOverrides {
  mode?: PlacementMode;
  pin_pool_id?: string;
  /** Pins the node; combines with pin_pool_id. */
  node_id?: string;
  prefer_pools?: readonly string[];
  avoid_pools?: readonly string[];
  /** Device ordinals, e.g. "0,1" or "GPU0"; matches a pool's devices exactly, in any order. */
  require_device_mask?: string;
  /** Prefer mode only: with no preferred pool feasible, use all pools. Default true. */
  allow_fallback?: boolean;
}

/** Where the session last ran well; placement keeps it there while the KV cache is warm. */
export interface Affinity {
  node_id: string;
  pool_id: string;
  replica_id?: string;
}

export interface PlacementRequest {
  model_ref: string;
  ctx?: number;
  required_vram_bytes?: number;
  placement?: PlacementOverrides;
  affinity?: Affinity;
  kv_hint?: "reuse" | "cold";
  /** Request features the pool's engine must honour (tools, a response format, ...); computed once at admission. */
  features?: readonly EngineFeature[];
}

export interface Candidate {
  node_id: string;
  pool_id: string;
  replica_id?: string;
  online: boolean;
  ready: boolean;
  draining: boolean;
  /** Absent or 0 counts as one slot (docs/contract.md#nodes: handoff files). */
  slots_total?: number;
  /** Leases this control plane holds on the pool. */
  leases: number;
  vram_free_bytes?: number;
  vram_total_bytes?: number;
  models_available: readonly string[];
  ctx_max?: number;
  devices?: readonly number[];
  engine?: string;
}

export type FilterReason =
  | "node offline"
  | "model not present"
  | "pool not ready"
  | "pool draining"
  | "no free slot"
  | "ctx exceeds ctx_max"
  | "device mask mismatch"
  | "insufficient vram"
  | "avoided"
  | "not the pinned pool"
  | "not the pinned node"
  | "not preferred"
  | "engine lacks feature";

export type FilterName =
  | "node_online"
  | "model_present"
  | "pool_ready"
  | "not_draining"
  | "free_slot"
  | "ctx_fits"
  | "device_mask"
  | "vram_fits"
  | "avoid_pools"
  | "pin_pool"
  | "pin_node"
  | "prefer_pools"
  | "engine_features";

export type TieBreaker = "session_affinity" | "vram_free_desc" | "leases_asc" | "node_id_asc" | "pool_id_asc" | "replica_id_asc";

export interface DecisionLog {
  selected_node_id?: string;
  selected_pool_id?: string;
  selected_replica_id?: string;
  candidates_considered: number;
  /** Keyed by candidateKey: "node/pool", or "node/pool/replica" for replicas. */
  filtered: Record<string, FilterReason>;
  /** Filters in effect for this request, in the order they are checked. */
  filters_applied: FilterName[];
  /** Sort keys compared between the winner and the runner-up, up to the one that decided. */
  tie_breakers_applied: TieBreaker[];
  pinned: boolean;
  fallback_used: boolean;
}

export type NoCapacityReason =
  | "no_capacity"
  | "model_not_available"
  | "pinned_pool_infeasible"
  | "no_preferred_feasible"
  | "node_unavailable";

export type Placement =
  | { ok: true; node_id: string; pool_id: string; replica_id?: string; log: DecisionLog }
  | { ok: false; reason: NoCapacityReason; log: DecisionLog };

export function poolKey(node_id: string, pool_id: string): string {
  return `${node_id}/${pool_id}`;
}

export function candidateKey(c: Pick<Candidate, "node_id" | "pool_id" | "replica_id">): string {
  return c.replica_id === undefined ? poolKey(c.node_id, c.pool_id) : `${poolKey(c.node_id, c.pool_id)}/${c.replica_id}`;
}

export function freeSlots(c: Pick<Candidate, "slots_total" | "leases">): number {
  return Math.max(1, c.slots_total ?? 0) - c.leases;
}

/**
 * A pin_pool_id without a mode pins, and prefer_pools without a mode prefer: ignoring either would
 * be the silent fallback the spec forbids. An explicit mode wins (admission refuses the conflict).
 */
export function effectiveMode(p: PlacementOverrides | undefined): PlacementMode {
  if (p?.mode) return p.mode;
  if (p?.pin_pool_id !== undefined) return "pin";
  if (p?.prefer_pools?.length) return "prefer";
  return "auto";
}

/** "0,1", "1, 0" and "GPU0,GPU1" name device sets; undefined when malformed or repeated. */
export function parseDeviceMask(mask: string): number[] | undefined {
  const parts = mask.split(",").map((s) => s.trim());
  const out: number[] = [];
  for (const part of parts) {
    const m = /^(?:gpu)?(\d{1,4})$/i.exec(part);
    if (!m) return undefined;
    const n = Number(m[1]);
    if (out.includes(n)) return undefined;
    out.push(n);
  }
  return out.sort((a, b) => a - b);
}

export function devicesMatch(required: readonly number[] | undefined, devices: readonly number[] | undefined): boolean {
  if (!required || !devices || devices.length !== required.length) return false;
  const have = [...devices].sort((a, b) => a - b);
  return have.every((d, i) => d === required[i]);
}

/** Labels for `placement_decisions_total{outcome,pinned,fallback}`. */
export function decisionLabels(p: Placement): { outcome: "assigned" | "no_capacity"; pinned: string; fallback: string } {
  return { outcome: p.ok ? "assigned" : "no_capacity", pinned: String(p.log.pinned), fallback: String(p.log.fallback_used) };
}

export function place(candidates: readonly Candidate[], request: PlacementRequest): Placement {
  const overrides = request.placement ?? {};
  const mode = effectiveMode(overrides);
  const pinPool = mode === "pin" ? (overrides.pin_pool_id ?? "") : undefined;
  const pinNode = overrides.node_id;
  const avoid = new Set(overrides.avoid_pools ?? []);
  const mask = overrides.require_device_mask === undefined ? undefined : (parseDeviceMask(overrides.require_device_mask) ?? []);
  const ctx = request.ctx ?? 0;
  const vramNeeded = request.required_vram_bytes;

  const filters_applied: FilterName[] = ["node_online", "model_present", "pool_ready", "not_draining", "free_slot"];
  if (ctx > 0) filters_applied.push("ctx_fits");
  if (mask) filters_applied.push("device_mask");
  if (vramNeeded !== undefined) filters_applied.push("vram_fits");
  if (avoid.size > 0) filters_applied.push("avoid_pools");
  if (pinPool !== undefined) filters_applied.push("pin_pool");
  if (pinNode !== undefined) filters_applied.push("pin_node");
  if (mode === "prefer") filters_applied.push("prefer_pools");
  const features = request.features ?? [];
  if (features.length > 0) filters_applied.push("engine_features");

  const whyNot = (c: Candidate): FilterReason | undefined => {
    if (!c.online) return "node offline";
    if (!c.models_available.includes(request.model_ref)) return "model not present";
    if (!c.ready) return "pool not ready";
    if (c.draining) return "pool draining";
    if (freeSlots(c) <= 0) return "no free slot";
    if (ctx > 0 && c.ctx_max !== undefined && ctx > c.ctx_max) return "ctx exceeds ctx_max";
    if (features.length > 0 && !engineHonours(c.engine, features)) return "engine lacks feature";
    if (mask && !devicesMatch(mask, c.devices)) return "device mask mismatch";
    if (vramNeeded !== undefined && c.vram_free_bytes !== undefined && vramNeeded > c.vram_free_bytes) return "insufficient vram";
    if (avoid.has(c.pool_id)) return "avoided";
    if (pinPool !== undefined && c.pool_id !== pinPool) return "not the pinned pool";
    if (pinNode !== undefined && c.node_id !== pinNode) return "not the pinned node";
    return undefined;
  };

  const filtered: Record<string, FilterReason> = {};
  let feasible: Candidate[] = [];
  for (const c of candidates) {
    const why = whyNot(c);
    if (why) filtered[candidateKey(c)] = why;
    else feasible.push(c);
  }

  let fallback_used = false;
  let preferMissed = false;
  if (mode === "prefer") {
    const prefer = new Set(overrides.prefer_pools ?? []);
    const preferred = feasible.filter((c) => prefer.has(c.pool_id));
    if (preferred.length > 0 || overrides.allow_fallback === false) {
      for (const c of feasible) if (!prefer.has(c.pool_id)) filtered[candidateKey(c)] = "not preferred";
      preferMissed = preferred.length === 0;
      feasible = preferred;
    } else {
      fallback_used = true;
    }
  }

  const log: DecisionLog = {
    candidates_considered: candidates.length,
    filtered,
    filters_applied,
    tie_breakers_applied: [],
    pinned: pinPool !== undefined || pinNode !== undefined,
    fallback_used,
  };
  if (feasible.length === 0) return { ok: false, reason: noCapacityReason(candidates, request, pinPool, pinNode, preferMissed), log };

  const keys = sortKeys(request);
  const compare = (a: Candidate, b: Candidate) => {
    for (const k of keys) {
      const d = k.cmp(a, b);
      if (d !== 0) return d;
    }
    return 0;
  };
  const ranked = [...feasible].sort(compare);
  const best = ranked[0]!;
  const runnerUp = ranked[1];
  if (runnerUp) {
    for (const k of keys) {
      log.tie_breakers_applied.push(k.name);
      if (k.cmp(best, runnerUp) !== 0) break;
    }
  }
  log.selected_node_id = best.node_id;
  log.selected_pool_id = best.pool_id;
  if (best.replica_id !== undefined) log.selected_replica_id = best.replica_id;
  return best.replica_id === undefined
    ? { ok: true, node_id: best.node_id, pool_id: best.pool_id, log }
    : { ok: true, node_id: best.node_id, pool_id: best.pool_id, replica_id: best.replica_id, log };
}

/** Whether a pool's engine kind honours every feature (contract ENGINE_FEATURES); an unknown kind is not refused. */
export function engineHonours(engine: string | undefined, features: readonly EngineFeature[]): boolean {
  const has = engine === undefined ? undefined : ENGINE_FEATURES[engine];
  return !has || features.every((f) => has.includes(f));
}

/** Most specific first: a bad node pin explains everything else, and a pin beats the model check. */
function noCapacityReason(
  candidates: readonly Candidate[],
  request: PlacementRequest,
  pinPool: string | undefined,
  pinNode: string | undefined,
  preferMissed: boolean,
): NoCapacityReason {
  if (pinNode !== undefined && !candidates.some((c) => c.node_id === pinNode && c.online)) return "node_unavailable";
  if (pinPool !== undefined) return "pinned_pool_infeasible";
  const inScope = (c: Candidate) => c.online && (pinNode === undefined || c.node_id === pinNode);
  if (!candidates.some((c) => inScope(c) && c.models_available.includes(request.model_ref))) return "model_not_available";
  return preferMissed ? "no_preferred_feasible" : "no_capacity";
}

interface SortKey {
  name: TieBreaker;
  cmp: (a: Candidate, b: Candidate) => number;
}

function sortKeys(request: PlacementRequest): SortKey[] {
  const keys: SortKey[] = [];
  const aff = request.affinity;
  if (aff && request.kv_hint !== "cold") {
    keys.push({ name: "session_affinity", cmp: (a, b) => affinityRank(b, aff) - affinityRank(a, aff) });
  }
  keys.push(
    { name: "vram_free_desc", cmp: (a, b) => (b.vram_free_bytes ?? 0) - (a.vram_free_bytes ?? 0) },
    { name: "leases_asc", cmp: (a, b) => a.leases - b.leases },
    { name: "node_id_asc", cmp: (a, b) => cmp(a.node_id, b.node_id) },
    { name: "pool_id_asc", cmp: (a, b) => cmp(a.pool_id, b.pool_id) },
    { name: "replica_id_asc", cmp: (a, b) => cmp(a.replica_id ?? "", b.replica_id ?? "") },
  );
  return keys;
}

/** 2: the replica holding the session's KV; 1: same pool, another replica; 0: elsewhere. */
function affinityRank(c: Candidate, aff: Affinity): number {
  if (c.node_id !== aff.node_id || c.pool_id !== aff.pool_id) return 0;
  return aff.replica_id === undefined || c.replica_id === undefined || c.replica_id === aff.replica_id ? 2 : 1;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
