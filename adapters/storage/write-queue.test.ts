// The write queue with a fake commit: batching (one transaction for writes that arrive together,
// group commit while one is in flight), promises that resolve only after their commit, the
// backlog's high-water mark, retries that keep order after a failed commit, refusal of writes
// that asked for no retry, coalescing by key, and flush().

import { expect, test } from "bun:test";
import type { Op, OpResult } from "./sqlite-ops.ts";
import { WriteQueue } from "./write-queue.ts";

const op = (id: string): Op => ({ t: "meta", key: id, value: "v" });

function harness(options: { maxBatch?: number; highWater?: { items: number; bytes: number } } = {}) {
  const batches: string[][] = [];
  let gate: { promise: Promise<void>; open(): void } | undefined;
  let failNext = 0;
  const events: string[] = [];
  let onCommit: (() => void) | undefined;
  const queue = new WriteQueue({
    commit: async (ops) => {
      onCommit?.();
      if (gate) await gate.promise;
      if (failNext > 0) {
        failNext--;
        throw new Error("disk full");
      }
      batches.push(ops.map((o) => (o.t === "meta" ? `${o.key}=${o.value}` : o.t)));
      return ops.map((o): OpResult => (o.t === "meta" && o.value === "bad" ? { error: "SQLITE_TOOBIG" } : null));
    },
    flushMs: 2,
    maxBatch: options.maxBatch ?? 100,
    highWater: options.highWater ?? { items: 1000, bytes: 1 << 30 },
    retryMs: 1,
    retryMaxMs: 4,
    observer: {
      failed: (kinds, error, retry) => void events.push(`failed ${kinds.join(",")} ${error} retry=${retry}`),
      recovered: (n) => void events.push(`recovered after ${n}`),
    },
  });
  return {
    queue,
    batches,
    events,
    hold() {
      let open!: () => void;
      gate = { promise: new Promise<void>((r) => (open = r)), open: () => open() };
      return () => {
        gate!.open();
        gate = undefined;
      };
    },
    failTimes: (n: number) => void (failNext = n),
    /** Resolves when the next commit starts. */
    committing: () => new Promise<void>((r) => (onCommit = r)),
  };
}

test("writes that arrive together share one transaction, and each resolves only after it committed", async () => {
  const h = harness();
  let resolved = 0;
  const all = Array.from({ length: 50 }, (_, i) => h.queue.push("artifact", op(`a${i}`), { bytes: 10 }).then(() => resolved++));
  expect(resolved).toBe(0);
  expect(h.queue.depth()).toEqual({ items: 50, bytes: 500 });
  await Promise.all(all);
  expect(h.batches).toHaveLength(1);
  expect(h.batches[0]).toHaveLength(50);
  expect(h.queue.depth()).toEqual({ items: 0, bytes: 0 });
});

test("maxBatch splits a burst; writes queued during a commit go in the next one (group commit)", async () => {
  const h = harness({ maxBatch: 10 });
  const release = h.hold();
  const started = h.committing();
  const first = Array.from({ length: 25 }, (_, i) => h.queue.push("stream", op(`s${i}`), { bytes: 1 }));
  await started;
  const late = h.queue.push("stream", op("late"), { bytes: 1 });
  release();
  await Promise.all([...first, late]);
  expect(h.batches.map((b) => b.length)).toEqual([10, 10, 6]);
  expect(h.batches.flat().at(-1)).toBe("late=v");
});

test("the backlog is backlogged above its high-water mark of items or bytes", async () => {
  const h = harness({ highWater: { items: 3, bytes: 100 } });
  const release = h.hold();
  const writes = [1, 2, 3].map((i) => h.queue.push("transcript", op(`t${i}`), { bytes: 10 }));
  expect(h.queue.backlogged()).toBe(false);
  writes.push(h.queue.push("transcript", op("t4"), { bytes: 10 }));
  expect(h.queue.backlogged()).toBe(true);
  release();
  await Promise.all(writes);
  expect(h.queue.backlogged()).toBe(false);
  const big = h.queue.push("artifact", op("big"), { bytes: 101 });
  expect(h.queue.backlogged()).toBe(true);
  await big;
});

test("a failed commit refuses what may fail and keeps the rest, in order, until a retry commits them", async () => {
  const h = harness();
  h.failTimes(2);
  const kept = h.queue.push("transcript", op("keep1"), { bytes: 1, retry: true });
  const refused = h.queue.push("artifact", op("api"), { bytes: 1 });
  const kept2 = h.queue.push("stream", op("keep2"), { bytes: 1, retry: true });
  await expect(refused).rejects.toThrow(/could not write to the state store: disk full/);
  await Promise.all([kept, kept2]);
  expect(h.batches).toEqual([["keep1=v", "keep2=v"]]);
  expect(h.events).toEqual(["failed transcript,artifact,stream disk full retry=1", "failed transcript,stream disk full retry=2", "recovered after 2"]);
});

test("a later write with the same key replaces a waiting one; both promises resolve with its commit", async () => {
  const h = harness();
  const release = h.hold();
  const started = h.committing();
  const inflight = h.queue.push("session", op("other"), { bytes: 1 });
  await started; // the first batch is in flight now
  const a = h.queue.push("session", { t: "meta", key: "s1", value: "1" }, { bytes: 1, key: "s1" });
  const b = h.queue.push("session", { t: "meta", key: "s1", value: "2" }, { bytes: 1, key: "s1" });
  expect(h.queue.depth().items).toBe(2); // the one in flight counts until it committed
  release();
  await Promise.all([inflight, a, b]);
  expect(h.batches).toEqual([["other=v"], ["s1=2"]]);
});

test("flush waits for everything queued before it; close refuses new writes", async () => {
  const h = harness();
  const writes = [h.queue.push("catalog", op("c1"), { bytes: 1 }), h.queue.push("catalog", op("c2"), { bytes: 1 })];
  await h.queue.flush();
  expect(h.batches.flat()).toEqual(["c1=v", "c2=v"]);
  await Promise.all(writes);
  expect(await h.queue.close(100)).toBe(0);
  await expect(h.queue.push("catalog", op("c3"), { bytes: 1 })).rejects.toThrow(/closed/);
});

test("a write refused for its content fails alone and loudly; the rest of its batch commits", async () => {
  const h = harness();
  const good = h.queue.push("transcript", op("ok"), { bytes: 1, retry: true });
  const bad = h.queue.push("transcript", { t: "meta", key: "x", value: "bad" }, { bytes: 1, retry: true });
  await good;
  await expect(bad).rejects.toThrow(/SQLITE_TOOBIG/);
  expect(h.events).toEqual(["failed transcript SQLITE_TOOBIG retry=undefined"]);
  expect(h.queue.depth().items).toBe(0);
});
