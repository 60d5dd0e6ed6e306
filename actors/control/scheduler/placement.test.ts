// Placement is pure: filter with a logged reason per pool, honour pins, avoids and preferences, then
// order by session affinity, free VRAM, leases and ids. The same snapshot in any order gives the
// same decision, log included.

import { describe, expect, test } from "bun:test";
import {
  candidateKey,
  decisionLabels,
  parseDeviceMask,
  place,
  poolKey,
  type Candidate,
  type PlacementRequest,
} from "./placement.ts";

const MODEL = "llama-3-8b";
const GiB = 1024 ** 3;
const req = (over: Partial<PlacementRequest> = {}): PlacementRequest => ({ model_ref: MODEL, ...over });

function pool(node_id: string, pool_id: string, over: Partial<Candidate> = {}): Candidate {
  return {
    node_id,
    pool_id,
    online: true,
    ready: true,
    draining: false,
    slots_total: 2,
    leases: 0,
    vram_free_bytes: 8 * GiB,
    vram_total_bytes: 24 * GiB,
    models_available: [MODEL],
    ...over,
  };
}

/** Deterministic Fisher-Yates with a small LCG, so a failing order can be reproduced. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("place: filters", () => {
  test("every filter reason appears in the decision log, keyed node/pool", () => {
    const candidates = [
      pool("n1", "offline", { online: false }),
      pool("n1", "no-model", { models_available: ["other"] }),
      pool("n2", "unready", { ready: false }),
      pool("n2", "draining", { draining: true }),
      pool("n3", "full", { leases: 2, slots_total: 2 }),
      pool("n3", "short", { ctx_max: 2048 }),
      pool("n4", "wrong-gpus", { devices: [2] }),
      pool("n4", "tight", { devices: [0, 1], vram_free_bytes: 1 * GiB }),
      pool("n5", "avoided", { devices: [1, 0] }),
      pool("n5", "ok", { devices: [0, 1], ctx_max: 8192 }),
    ];
    const result = place(
      candidates,
      req({ ctx: 4096, required_vram_bytes: 2 * GiB, placement: { require_device_mask: "0,1", avoid_pools: ["avoided"] } }),
    );
    expect(result).toMatchObject({ ok: true, node_id: "n5", pool_id: "ok" });
    expect(result.log).toEqual({
      selected_node_id: "n5",
      selected_pool_id: "ok",
      candidates_considered: 10,
      filtered: {
        "n1/offline": "node offline",
        "n1/no-model": "model not present",
        "n2/unready": "pool not ready",
        "n2/draining": "pool draining",
        "n3/full": "no free slot",
        "n3/short": "ctx exceeds ctx_max",
        "n4/wrong-gpus": "device mask mismatch",
        "n4/tight": "insufficient vram",
        "n5/avoided": "avoided",
      },
      filters_applied: [
        "node_online",
        "model_present",
        "pool_ready",
        "not_draining",
        "free_slot",
        "ctx_fits",
        "device_mask",
        "vram_fits",
        "avoid_pools",
      ],
      tie_breakers_applied: [],
      pinned: false,
      fallback_used: false,
    });
  });

  test("offline wins over the other reasons; absent or zero slots still take one lease", () => {
    const result = place(
      [
        pool("a", "p", { online: false, ready: false, draining: true, models_available: [] }),
        pool("b", "zero-free", { slots_total: 0, leases: 0 }),
        pool("b", "zero-busy", { slots_total: 0, leases: 1 }),
        pool("b", "absent-busy", { slots_total: undefined, leases: 1 }),
      ],
      req(),
    );
    expect(result.log.filtered).toEqual({ "a/p": "node offline", "b/zero-busy": "no free slot", "b/absent-busy": "no free slot" });
    expect(result).toMatchObject({ ok: true, node_id: "b", pool_id: "zero-free" });
  });

  test("unknown ctx_max, free VRAM or requirement never filters", () => {
    const unknown = pool("a", "p", { ctx_max: undefined, vram_free_bytes: undefined });
    expect(place([unknown], req({ ctx: 100_000, required_vram_bytes: 99 * GiB }))).toMatchObject({ ok: true, pool_id: "p" });
    expect(place([pool("a", "p", { vram_free_bytes: 0 })], req({ ctx: 0 }))).toMatchObject({ ok: true });
  });

  test("VRAM fits at exactly the free bytes, not one byte more", () => {
    const candidates = [pool("a", "p", { vram_free_bytes: 4 * GiB })];
    expect(place(candidates, req({ required_vram_bytes: 4 * GiB })).ok).toBe(true);
    const over = place(candidates, req({ required_vram_bytes: 4 * GiB + 1 }));
    expect(over).toMatchObject({ ok: false, reason: "no_capacity", log: { filtered: { "a/p": "insufficient vram" } } });
  });

  test("device masks match exactly, in any order and GPU notation; unknown devices never match", () => {
    const candidates = [
      pool("a", "gpu0", { devices: [0] }),
      pool("a", "gpu01", { devices: [1, 0] }),
      pool("a", "gpu012", { devices: [0, 1, 2] }),
      pool("a", "unknown", { devices: undefined, vram_free_bytes: 99 * GiB }),
    ];
    expect(place(candidates, req({ placement: { require_device_mask: "0,1" } }))).toMatchObject({ pool_id: "gpu01" });
    expect(place(candidates, req({ placement: { require_device_mask: "GPU1, GPU0" } }))).toMatchObject({ pool_id: "gpu01" });
    expect(place(candidates, req({ placement: { require_device_mask: "0" } }))).toMatchObject({ pool_id: "gpu0" });
    const none = place(candidates, req({ placement: { require_device_mask: "3" } }));
    expect(none).toMatchObject({ ok: false, reason: "no_capacity" });
    expect(none.log.filtered["a/unknown"]).toBe("device mask mismatch");
    // A malformed mask matches nothing rather than everything.
    expect(place(candidates, req({ placement: { require_device_mask: "zero" } })).ok).toBe(false);
  });

  test("replicas of one pool are logged and chosen separately", () => {
    const result = place(
      [pool("a", "p", { replica_id: "r2" }), pool("a", "p", { replica_id: "r1", leases: 2 }), pool("a", "p", { replica_id: "r0" })],
      req(),
    );
    expect(result).toMatchObject({ ok: true, node_id: "a", pool_id: "p", replica_id: "r0", log: { selected_replica_id: "r0" } });
    expect(result.log.filtered).toEqual({ "a/p/r1": "no free slot" });
    expect(result.log.tie_breakers_applied).toEqual(["vram_free_desc", "leases_asc", "node_id_asc", "pool_id_asc", "replica_id_asc"]);
  });
});

describe("place: order", () => {
  test("most free VRAM wins, even with more leases", () => {
    const result = place([pool("a", "p", { vram_free_bytes: 4 * GiB }), pool("b", "p", { vram_free_bytes: 20 * GiB, leases: 1 })], req());
    expect(result).toMatchObject({ ok: true, node_id: "b", pool_id: "p", log: { tie_breakers_applied: ["vram_free_desc"] } });
  });

  test("unknown free VRAM counts as none", () => {
    const result = place([pool("a", "p", { vram_free_bytes: undefined }), pool("z", "p", { vram_free_bytes: 1 })], req());
    expect(result).toMatchObject({ ok: true, node_id: "z" });
  });

  test("with equal VRAM, fewer leases win", () => {
    const result = place([pool("a", "p", { leases: 1, slots_total: 4 }), pool("b", "p", { leases: 0 })], req());
    expect(result).toMatchObject({ ok: true, node_id: "b", log: { tie_breakers_applied: ["vram_free_desc", "leases_asc"] } });
  });

  test("with equal VRAM and leases, node_id then pool_id ascending decide", () => {
    const byNode = place([pool("n2", "a"), pool("n1", "z")], req());
    expect(byNode).toMatchObject({ node_id: "n1", pool_id: "z" });
    expect(byNode.log.tie_breakers_applied).toEqual(["vram_free_desc", "leases_asc", "node_id_asc"]);
    const byPool = place([pool("n1", "b"), pool("n1", "a")], req());
    expect(byPool).toMatchObject({ node_id: "n1", pool_id: "a" });
    expect(byPool.log.tie_breakers_applied).toEqual(["vram_free_desc", "leases_asc", "node_id_asc", "pool_id_asc"]);
  });

  test("session affinity beats free VRAM and leases", () => {
    const candidates = [pool("a", "p", { vram_free_bytes: 40 * GiB }), pool("b", "warm", { vram_free_bytes: 1 * GiB, leases: 1 })];
    const result = place(candidates, req({ affinity: { node_id: "b", pool_id: "warm" } }));
    expect(result).toMatchObject({ ok: true, node_id: "b", pool_id: "warm", log: { tie_breakers_applied: ["session_affinity"] } });
  });

  test("kv_hint cold ignores affinity", () => {
    const candidates = [pool("a", "p", { vram_free_bytes: 40 * GiB }), pool("b", "warm", { vram_free_bytes: 1 * GiB })];
    const result = place(candidates, req({ affinity: { node_id: "b", pool_id: "warm" }, kv_hint: "cold" }));
    expect(result).toMatchObject({ ok: true, node_id: "a", log: { tie_breakers_applied: ["vram_free_desc"] } });
    expect(place(candidates, req({ affinity: { node_id: "b", pool_id: "warm" }, kv_hint: "reuse" }))).toMatchObject({ node_id: "b" });
  });

  test("affinity needs node and pool to match, and prefers the very replica", () => {
    const candidates = [
      pool("a", "warm", { vram_free_bytes: 2 * GiB }),
      pool("b", "warm", { replica_id: "r0", vram_free_bytes: 9 * GiB }),
      pool("b", "warm", { replica_id: "r1", vram_free_bytes: 1 * GiB }),
    ];
    expect(place(candidates, req({ affinity: { node_id: "b", pool_id: "warm", replica_id: "r1" } }))).toMatchObject({ replica_id: "r1" });
    expect(place(candidates, req({ affinity: { node_id: "b", pool_id: "warm" } }))).toMatchObject({ node_id: "b", replica_id: "r0" });
    // An affine pool that cannot take the task is simply skipped.
    const full = place([pool("a", "p"), pool("b", "warm", { leases: 2 })], req({ affinity: { node_id: "b", pool_id: "warm" } }));
    expect(full).toMatchObject({ ok: true, node_id: "a" });
  });
});

describe("place: pins, prefer, avoid", () => {
  const fleet = [pool("n1", "big", { vram_free_bytes: 40 * GiB }), pool("n1", "small"), pool("n2", "small", { vram_free_bytes: 2 * GiB })];

  test("mode pin places only on the pinned pool, even when another has more VRAM", () => {
    const result = place(fleet, req({ placement: { mode: "pin", pin_pool_id: "small" } }));
    expect(result).toMatchObject({ ok: true, node_id: "n1", pool_id: "small", log: { pinned: true } });
    expect(result.log.filtered).toEqual({ "n1/big": "not the pinned pool" });
    expect(result.log.filters_applied).toContain("pin_pool");
  });

  test("a pin_pool_id without a mode pins", () => {
    expect(place(fleet, req({ placement: { pin_pool_id: "small" } }))).toMatchObject({ pool_id: "small", log: { pinned: true } });
  });

  test("placement.node_id pins the node, alone or with a pool pin", () => {
    expect(place(fleet, req({ placement: { node_id: "n2" } }))).toMatchObject({ ok: true, node_id: "n2", log: { pinned: true } });
    const both = place(fleet, req({ placement: { node_id: "n2", pin_pool_id: "small" } }));
    expect(both).toMatchObject({ ok: true, node_id: "n2", pool_id: "small" });
    expect(both.log.filtered).toEqual({ "n1/big": "not the pinned pool", "n1/small": "not the pinned node" });
  });

  test("an infeasible pinned pool never falls back", () => {
    const result = place([...fleet, pool("n3", "busy", { leases: 2 })], req({ placement: { mode: "pin", pin_pool_id: "busy" } }));
    expect(result).toMatchObject({ ok: false, reason: "pinned_pool_infeasible", log: { pinned: true, fallback_used: false } });
    expect(result.log.selected_pool_id).toBeUndefined();
    const missing = place(fleet, req({ placement: { mode: "pin", pin_pool_id: "nope" } }));
    expect(missing).toMatchObject({ ok: false, reason: "pinned_pool_infeasible" });
  });

  test("a pinned node that is offline or unknown is node_unavailable", () => {
    const offline = [...fleet, pool("n9", "p", { online: false })];
    expect(place(offline, req({ placement: { node_id: "n9" } }))).toMatchObject({ ok: false, reason: "node_unavailable" });
    expect(place(offline, req({ placement: { node_id: "ghost", pin_pool_id: "p" } }))).toMatchObject({ reason: "node_unavailable" });
    // Online but busy is plain capacity.
    const busy = [pool("n1", "p", { leases: 2 })];
    expect(place(busy, req({ placement: { node_id: "n1" } }))).toMatchObject({ ok: false, reason: "no_capacity" });
  });

  test("avoid_pools are always excluded, also when preferred", () => {
    const result = place(fleet, req({ placement: { avoid_pools: ["big"], mode: "prefer", prefer_pools: ["big"], allow_fallback: true } }));
    expect(result).toMatchObject({ ok: true, node_id: "n1", pool_id: "small", log: { fallback_used: true } });
    expect(result.log.filtered["n1/big"]).toBe("avoided");
  });

  test("prefer scores among the preferred pools only", () => {
    const result = place(fleet, req({ placement: { mode: "prefer", prefer_pools: ["small"] } }));
    expect(result).toMatchObject({ ok: true, node_id: "n1", pool_id: "small", log: { fallback_used: false, pinned: false } });
    expect(result.log.filtered).toEqual({ "n1/big": "not preferred" });
    expect(result.log.filters_applied).toContain("prefer_pools");
  });

  test("prefer falls back to every pool by default when no preferred pool is feasible", () => {
    const candidates = [...fleet, pool("n3", "fav", { draining: true })];
    const result = place(candidates, req({ placement: { prefer_pools: ["fav"] } }));
    expect(result).toMatchObject({ ok: true, node_id: "n1", pool_id: "big", log: { fallback_used: true } });
    expect(decisionLabels(result)).toEqual({ outcome: "assigned", pinned: "false", fallback: "true" });
  });

  test("prefer without fallback fails no_preferred_feasible", () => {
    const candidates = [...fleet, pool("n3", "fav", { draining: true })];
    const result = place(candidates, req({ placement: { mode: "prefer", prefer_pools: ["fav"], allow_fallback: false } }));
    expect(result).toMatchObject({ ok: false, reason: "no_preferred_feasible", log: { fallback_used: false } });
    expect(result.log.filtered).toEqual({
      "n3/fav": "pool draining",
      "n1/big": "not preferred",
      "n1/small": "not preferred",
      "n2/small": "not preferred",
    });
    expect(decisionLabels(result)).toEqual({ outcome: "no_capacity", pinned: "false", fallback: "false" });
  });
});

describe("place: outcomes and determinism", () => {
  test("the decision and its log do not depend on input order", () => {
    const candidates = [
      pool("n3", "p1", { vram_free_bytes: 16 * GiB, leases: 1 }),
      pool("n2", "p2", { vram_free_bytes: 16 * GiB, leases: 1 }),
      pool("n2", "p1", { vram_free_bytes: 16 * GiB, leases: 1, replica_id: "r1" }),
      pool("n2", "p1", { vram_free_bytes: 16 * GiB, leases: 1, replica_id: "r0" }),
      pool("n1", "p9", { vram_free_bytes: 16 * GiB, leases: 2, slots_total: 4 }),
      pool("n0", "p0", { vram_free_bytes: 2 * GiB }),
      pool("n4", "p0", { online: false, vram_free_bytes: 99 * GiB }),
      pool("n5", "p0", { draining: true, vram_free_bytes: 99 * GiB }),
      pool("n6", "p0", { vram_free_bytes: 1 * GiB, devices: [3] }),
    ];
    const requests = [
      req(),
      req({ placement: { mode: "prefer", prefer_pools: ["p2", "p9"] } }),
      req({ affinity: { node_id: "n3", pool_id: "p1" } }),
      req({ placement: { avoid_pools: ["p1"], require_device_mask: "3" } }),
    ];
    for (const r of requests) {
      const expected = place(candidates, r);
      for (let seed = 1; seed <= 40; seed++) expect(place(shuffled(candidates, seed), r)).toEqual(expected);
    }
    expect(place(candidates, req())).toMatchObject({ ok: true, node_id: "n2", pool_id: "p1", replica_id: "r0" });
  });

  test("the input is not mutated", () => {
    const candidates = [pool("b", "p"), pool("a", "p", { vram_free_bytes: 1 })];
    const before = JSON.stringify(candidates);
    place(candidates, req({ placement: { prefer_pools: ["p"] } }));
    expect(JSON.stringify(candidates)).toBe(before);
  });

  test("model_not_available when no online node has the model", () => {
    const result = place([pool("a", "p", { models_available: ["other"] }), pool("b", "p", { online: false })], req());
    expect(result).toEqual({
      ok: false,
      reason: "model_not_available",
      log: {
        candidates_considered: 2,
        filtered: { "a/p": "model not present", "b/p": "node offline" },
        filters_applied: ["node_online", "model_present", "pool_ready", "not_draining", "free_slot"],
        tie_breakers_applied: [],
        pinned: false,
        fallback_used: false,
      },
    });
  });

  test("no_capacity when an online node has the model but no pool can take it", () => {
    for (const blocked of [{ ready: false }, { draining: true }, { leases: 2 }]) {
      const result = place([pool("a", "p", blocked), pool("b", "p", { models_available: [] })], req());
      expect(result).toMatchObject({ ok: false, reason: "no_capacity" });
      expect(result.log.selected_pool_id).toBeUndefined();
    }
  });

  test("an empty snapshot is model_not_available with an empty log", () => {
    expect(place([], req())).toMatchObject({ ok: false, reason: "model_not_available", log: { candidates_considered: 0, filtered: {} } });
  });

  test("keys and device masks", () => {
    expect(poolKey("n1", "p1")).toBe("n1/p1");
    expect(candidateKey({ node_id: "n1", pool_id: "p1", replica_id: "r" })).toBe("n1/p1/r");
    expect(parseDeviceMask("1, 0")).toEqual([0, 1]);
    expect(parseDeviceMask("GPU0")).toEqual([0]);
    for (const bad of ["", "0,", "0,0", "a", "-1"]) expect(parseDeviceMask(bad)).toBeUndefined();
  });
});

describe("engine features", () => {
  // The pool with the most free VRAM lacks tools; a tool task must not land there.
  const fleet = [
    pool("n1", "plain", { engine: "mock-server-old", vram_free_bytes: 20 * GiB }),
    pool("n1", "tgi", { engine: "tgi", vram_free_bytes: 16 * GiB }),
    pool("n2", "builtin", { engine: "builtin", vram_free_bytes: 4 * GiB }),
  ];

  test("a task needing a feature skips pools whose engine lacks it, with a logged reason", () => {
    const result = place([pool("n1", "mock", { engine: "tgi", vram_free_bytes: 20 * GiB }), pool("n2", "builtin", { engine: "builtin" })], req({ features: ["logit_bias"] }));
    expect(result.ok && result.pool_id).toBe("builtin");
    expect(result.log.filtered).toEqual({ "n1/mock": "engine lacks feature" });
    expect(result.log.filters_applied).toContain("engine_features");
  });

  test("every feature must be honoured; an engine kind not in the table is never excluded", () => {
    const both = place(fleet, req({ features: ["tools", "logit_bias"] }));
    // "mock-server-old" is unknown to the table: not excluded, and it has the most free VRAM.
    expect(both.ok && both.pool_id).toBe("plain");
    expect(both.log.filtered).toEqual({ "n1/tgi": "engine lacks feature" });
  });

  test("without features nothing is filtered for them", () => {
    const result = place(fleet, req());
    expect(result.log.filters_applied).not.toContain("engine_features");
    expect(result.ok && result.pool_id).toBe("plain");
  });

  test("no pool with the feature: no capacity", () => {
    const result = place([pool("n1", "tgi", { engine: "tgi" })], req({ features: ["logit_bias"] }));
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toBe("no_capacity");
  });
});
