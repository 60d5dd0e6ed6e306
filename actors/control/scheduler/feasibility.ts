// Admission feasibility: what can be refused before enqueue (docs/contract.md#tasks),
// as a pure function over the same candidates placement sees. Momentary load (free slots, leases)
// is ignored: a busy pool queues the task. Readiness only counts for a pinned pool, which must
// never fall back silently; an unpinned task waits for a pool that is still loading.
//
// Checks run in the admission order: request shape, ctx against the model limit, pins and their
// readiness, model presence, then fit (ctx within the pin, VRAM, device mask, avoid/prefer).
// Messages name the offending field; they carry ids and limits, never the prompt.

import { apiError, type ErrorEnvelope, type FeatureNeed, featureMessage, inputChars, neededFeatures, retriableError, type TaskSpec, unmetFeature } from "../../../contract/index.ts";
import { devicesMatch, effectiveMode, parseDeviceMask, type Candidate, type PlacementRequest } from "./placement.ts";

export type AdmissionCheck = { ok: true } | ({ ok: false } & ErrorEnvelope);


/** The context a task needs: what it asks for, at least its prompt (4 characters a token, before the engine tokenizes it) plus max_tokens. */
export function neededCtx(s: TaskSpec): number {
  return Math.max(s.ctx, Math.ceil(inputChars(s) / 4) + s.max_tokens);
}

/** INVALID_PARAMS when `ctx` exceeds the ctx_max of every online pool holding the model, all of them known. */
function ctxRefusal(candidates: readonly Candidate[], model: string, ctx: number): ErrorEnvelope | undefined {
  const tooLong = ctxTooLong(candidates.filter((c) => c.online && holds(c, model)), ctx);
  return tooLong === undefined ? undefined : { code: "INVALID_PARAMS", message: `ctx ${ctx} exceeds ctx_max ${tooLong} of every pool serving model '${model}'` };
}

/**
 * Admission's ctx check again, for a task in the queue: a pool that was still starting when the
 * task was admitted learns its context from its engine only once it is up, and the task may not fit.
 */
export function queuedRefusal(candidates: readonly Candidate[], spec: TaskSpec): ErrorEnvelope | undefined {
  return ctxRefusal(candidates, spec.model_ref, neededCtx(spec));
}

/**
 * INVALID_PARAMS naming the request field when a feature the task needs (tools, a response
 * format, penalties, logit_bias) is honoured by no online pool serving its model, judged by the
 * pools' engine kinds (contract ENGINE_FEATURES). Pools of an unknown engine kind never refuse.
 */
export function featureRefusal(candidates: readonly Candidate[], spec: TaskSpec, needs: readonly FeatureNeed[] = neededFeatures(spec)): ErrorEnvelope | undefined {
  if (needs.length === 0) return undefined;
  const pools = candidates.filter((c) => c.online && holds(c, spec.model_ref));
  if (pools.length === 0) return undefined;
  let first: ReturnType<typeof unmetFeature>;
  for (const c of pools) {
    const unmet = c.engine === undefined ? undefined : unmetFeature(c.engine, needs);
    if (!unmet) return undefined; // this pool can take it
    first ??= unmet;
  }
  const engines = [...new Set(pools.map((c) => c.engine!))].sort();
  return { code: "INVALID_PARAMS", message: featureMessage(first!, engines) };
}

export function checkAdmission(candidates: readonly Candidate[], request: PlacementRequest): AdmissionCheck {
  const p = request.placement ?? {};
  const mode = effectiveMode(p);
  const model = request.model_ref;
  const ctx = request.ctx ?? 0;

  // 1. Shape: contradictions the schema cannot express.
  if (p.mode === "pin" && p.pin_pool_id === undefined) {
    return invalid("placement.pin_pool_id is required when placement.mode is 'pin'");
  }
  if (p.pin_pool_id !== undefined && mode !== "pin") {
    return invalid(`placement.pin_pool_id requires placement.mode 'pin' (got '${mode}')`);
  }
  const mask = p.require_device_mask === undefined ? undefined : parseDeviceMask(p.require_device_mask);
  if (p.require_device_mask !== undefined && !mask) {
    return invalid("placement.require_device_mask must list distinct device ordinals, e.g. \"0,1\"");
  }

  // 2. ctx against the model's limit: the largest ctx_max of any online pool holding it.
  const online = candidates.filter((c) => c.online);
  const tooLong = ctxRefusal(online, model, ctx);
  if (tooLong) return { ok: false, ...tooLong };

  // 3. Pins: the node must be there; the pool must exist on it and be ready.
  let scope = online;
  if (p.node_id !== undefined) {
    scope = scope.filter((c) => c.node_id === p.node_id);
    if (scope.length === 0) {
      const known = candidates.some((c) => c.node_id === p.node_id);
      return fail("NODE_UNAVAILABLE", `placement.node_id '${p.node_id}' ${known ? "is offline" : "names no known node"}`, true);
    }
  }
  const pin = mode === "pin" ? p.pin_pool_id : undefined;
  if (pin !== undefined) {
    scope = scope.filter((c) => c.pool_id === pin);
    const where = p.node_id === undefined ? "any online node" : `node '${p.node_id}'`;
    if (scope.length === 0) return invalid(`placement.pin_pool_id '${pin}' names no pool on ${where}`);
    const usable = scope.filter((c) => c.ready && !c.draining);
    if (usable.length === 0) {
      const why = scope.some((c) => c.draining) ? "is draining" : "is not ready";
      return { ...fail("POOL_UNREADY", `placement.pin_pool_id '${pin}' ${why}`, true), pool_id: pin, ...engineOf(scope) };
    }
    scope = usable;
  }

  // 4. Model presence, within the pins.
  scope = scope.filter((c) => holds(c, model));
  if (scope.length === 0) {
    const where = pin !== undefined ? `pinned pool '${pin}'` : p.node_id !== undefined ? `node '${p.node_id}'` : "no online node";
    const message = pin !== undefined || p.node_id !== undefined ? `${where} does not serve model_ref '${model}'` : `${where} serves model_ref '${model}'`;
    return fail("MODEL_NOT_AVAILABLE", message, true);
  }

  // 5. Fit. Each step narrows the pools a task could ever run on; unknown limits never refuse.
  const pinnedLimit = ctxTooLong(scope, ctx);
  if (pinnedLimit !== undefined) {
    const where = pin !== undefined ? `pinned pool '${pin}'` : `every pool on node '${p.node_id}'`;
    return invalid(`ctx ${ctx} exceeds ctx_max ${pinnedLimit} of ${where}`);
  }
  const need = request.required_vram_bytes;
  if (need !== undefined) {
    scope = scope.filter((c) => c.vram_total_bytes === undefined || need <= c.vram_total_bytes);
    if (scope.length === 0) return fail("POOL_UNAVAILABLE", `required VRAM (${need} bytes) fits no pool serving model_ref '${model}'`);
  }
  if (mask) {
    scope = scope.filter((c) => devicesMatch(mask, c.devices));
    if (scope.length === 0) {
      return fail("POOL_UNAVAILABLE", `placement.require_device_mask '${p.require_device_mask}' matches no pool serving model_ref '${model}'`);
    }
  }
  const avoid = new Set(p.avoid_pools ?? []);
  if (avoid.size > 0) {
    scope = scope.filter((c) => !avoid.has(c.pool_id));
    if (scope.length === 0) return fail("POOL_UNAVAILABLE", "placement.avoid_pools excludes every pool that could serve the request");
  }
  if (mode === "prefer" && p.allow_fallback === false) {
    const prefer = new Set(p.prefer_pools ?? []);
    if (!scope.some((c) => prefer.has(c.pool_id))) {
      return fail("POOL_UNAVAILABLE", "placement.prefer_pools names no pool that could serve the request, and placement.allow_fallback is false");
    }
  }
  return { ok: true };
}

function holds(c: Candidate, model: string): boolean {
  return c.models_available.includes(model);
}

/** The largest known ctx_max when ctx exceeds all of them; undefined when some pool fits or may fit. */
function ctxTooLong(pools: readonly Candidate[], ctx: number): number | undefined {
  if (ctx <= 0 || pools.length === 0) return undefined;
  let largest = 0;
  for (const c of pools) {
    if (c.ctx_max === undefined) return undefined;
    largest = Math.max(largest, c.ctx_max);
  }
  return ctx > largest ? largest : undefined;
}

function engineOf(pools: readonly Candidate[]): { engine?: string } {
  const engine = pools.find((c) => c.engine !== undefined)?.engine;
  return engine === undefined ? {} : { engine };
}

function invalid(message: string): AdmissionCheck {
  return { ok: false, code: "INVALID_PARAMS", message };
}

/** Conditions that can clear on their own (a node returning, a pool loading) are `retriable`. */
function fail(code: ErrorEnvelope["code"], message: string, retriable = false): { ok: false } & ErrorEnvelope {
  return { ok: false, ...(retriable ? retriableError(code, message) : apiError(code, message)) };
}
