// Placement is pure: filter with a logged reason per pool, then order by free VRAM, leases,
// node_id and pool_id. The same snapshot in any order gives the same decision.

import { describe, expect, test } from "bun:test";
import { place, poolKey, type Candidate } from "./placement.ts";

const MODEL = "llama-3-8b";
const GiB = 1024 ** 3;

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

describe("place", () => {
  test("every filter reason appears in the decision log, keyed node/pool", () => {
    const candidates = [
      pool("n1", "offline", { online: false }),
      pool("n1", "no-model", { models_available: ["other"] }),
      pool("n2", "unready", { ready: false }),
      pool("n2", "draining", { draining: true }),
      pool("n3", "full", { leases: 2, slots_total: 2 }),
      pool("n3", "ok"),
    ];
    const result = place(candidates, MODEL);
    expect(result.ok).toBe(true);
    expect(result.log).toEqual({
      candidates_considered: 6,
      filtered: {
        "n1/offline": "node offline",
        "n1/no-model": "model not present",
        "n2/unready": "pool not ready",
        "n2/draining": "pool draining",
        "n3/full": "no free slot",
      },
      selected: "n3/ok",
    });
  });

  test("offline wins over the other reasons; a pool with zero slots still takes one lease", () => {
    const result = place(
      [
        pool("a", "p", { online: false, ready: false, draining: true, models_available: [] }),
        pool("b", "zero-free", { slots_total: 0, leases: 0 }),
        pool("b", "zero-busy", { slots_total: 0, leases: 1 }),
      ],
      MODEL,
    );
    expect(result.log.filtered).toEqual({ "a/p": "node offline", "b/zero-busy": "no free slot" });
    expect(result).toMatchObject({ ok: true, node_id: "b", pool_id: "zero-free" });
  });

  test("most free VRAM wins, even with more leases", () => {
    const result = place(
      [pool("a", "p", { vram_free_bytes: 4 * GiB }), pool("b", "p", { vram_free_bytes: 20 * GiB, leases: 1 })],
      MODEL,
    );
    expect(result).toMatchObject({ ok: true, node_id: "b", pool_id: "p" });
  });

  test("unknown free VRAM counts as none", () => {
    const result = place([pool("a", "p", { vram_free_bytes: undefined }), pool("z", "p", { vram_free_bytes: 1 })], MODEL);
    expect(result).toMatchObject({ ok: true, node_id: "z" });
  });

  test("with equal VRAM, fewer leases win", () => {
    const result = place([pool("a", "p", { leases: 1, slots_total: 4 }), pool("b", "p", { leases: 0 })], MODEL);
    expect(result).toMatchObject({ ok: true, node_id: "b" });
  });

  test("with equal VRAM and leases, node_id then pool_id ascending decide", () => {
    expect(place([pool("n2", "a"), pool("n1", "z")], MODEL)).toMatchObject({ node_id: "n1", pool_id: "z" });
    expect(place([pool("n1", "b"), pool("n1", "a")], MODEL)).toMatchObject({ node_id: "n1", pool_id: "a" });
  });

  test("the decision does not depend on input order", () => {
    const candidates = [
      pool("n3", "p1", { vram_free_bytes: 16 * GiB, leases: 1 }),
      pool("n2", "p2", { vram_free_bytes: 16 * GiB, leases: 1 }),
      pool("n2", "p1", { vram_free_bytes: 16 * GiB, leases: 1 }),
      pool("n1", "p9", { vram_free_bytes: 16 * GiB, leases: 2, slots_total: 4 }),
      pool("n0", "p0", { vram_free_bytes: 2 * GiB }),
      pool("n4", "p0", { online: false, vram_free_bytes: 99 * GiB }),
      pool("n5", "p0", { draining: true, vram_free_bytes: 99 * GiB }),
    ];
    const expected = place(candidates, MODEL);
    expect(expected).toMatchObject({ ok: true, node_id: "n2", pool_id: "p1" });
    for (let seed = 1; seed <= 50; seed++) {
      expect(place(shuffled(candidates, seed), MODEL)).toEqual(expected);
    }
  });

  test("the input is not mutated", () => {
    const candidates = [pool("b", "p"), pool("a", "p", { vram_free_bytes: 1 })];
    const before = JSON.stringify(candidates);
    place(candidates, MODEL);
    expect(JSON.stringify(candidates)).toBe(before);
  });

  test("model_not_available when no online node has the model", () => {
    const result = place(
      [pool("a", "p", { models_available: ["other"] }), pool("b", "p", { online: false })],
      MODEL,
    );
    expect(result).toEqual({
      ok: false,
      reason: "model_not_available",
      log: { candidates_considered: 2, filtered: { "a/p": "model not present", "b/p": "node offline" } },
    });
  });

  test("no_capacity when an online node has the model but no pool can take it", () => {
    for (const blocked of [{ ready: false }, { draining: true }, { leases: 2 }]) {
      const result = place([pool("a", "p", blocked), pool("b", "p", { models_available: [] })], MODEL);
      expect(result).toMatchObject({ ok: false, reason: "no_capacity" });
      expect(result.log.selected).toBeUndefined();
    }
  });

  test("an empty snapshot is model_not_available with an empty log", () => {
    expect(place([], MODEL)).toEqual({
      ok: false,
      reason: "model_not_available",
      log: { candidates_considered: 0, filtered: {} },
    });
  });

  test("poolKey joins node and pool", () => {
    expect(poolKey("n1", "p1")).toBe("n1/p1");
  });
});
