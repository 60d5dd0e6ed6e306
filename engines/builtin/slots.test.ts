// Slots: first come first served when all are busy; a canceled waiter leaves the queue.

import { expect, test } from "bun:test";
import { flushMicrotasks } from "../../runtime/index.ts";
import { SlotPool, SlotWaitAborted } from "./slots.ts";

test("free slots are taken lowest first; waiters get released slots in arrival order", async () => {
  const pool = new SlotPool(["s0", "s1"]);
  expect(await pool.acquire()).toBe("s0");
  expect(await pool.acquire()).toBe("s1");
  const order: string[] = [];
  const a = pool.acquire().then((s) => order.push(`a:${s}`));
  const b = pool.acquire().then((s) => order.push(`b:${s}`));
  expect([pool.busy, pool.deferred]).toEqual([2, 2]);
  pool.release("s1");
  pool.release("s0");
  await Promise.all([a, b]);
  expect(order).toEqual(["a:s1", "b:s0"]);
  expect(pool.deferred).toBe(0);
});

test("a waiter whose request is canceled leaves the queue and does not take a slot", async () => {
  const pool = new SlotPool(["only"]);
  await pool.acquire();
  const gone = new AbortController();
  const waiting = pool.acquire(gone.signal);
  const next = pool.acquire();
  gone.abort();
  await expect(waiting).rejects.toBeInstanceOf(SlotWaitAborted);
  expect(pool.deferred).toBe(1);
  pool.release("only");
  expect(await next).toBe("only");
  pool.release("only");
  pool.release("only"); // twice: no double free
  expect(pool.busy).toBe(0);
});

test("closing fails the waiters and refuses new requests", async () => {
  const pool = new SlotPool([1]);
  await pool.acquire();
  const waiting = pool.acquire();
  pool.close();
  await expect(waiting).rejects.toThrow("shutting down");
  await expect(pool.acquire()).rejects.toThrow("shutting down");
  await flushMicrotasks();
});
