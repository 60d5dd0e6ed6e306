// Admission against a real in-process cluster: full queues under reject and drop-lru (the evicted
// client sees its stream end), 429 headers, per-token rate limits, deadlines, pins, session
// budgets and their headers, predicted start times, and the metrics each of these moves.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { DEFAULT_RETRY_AFTER_MS, retryAfterDefaultMs, setRetryAfterDefault } from "../../contract/index.ts";
import { mockPool, startCluster, type Cluster, type ClusterOptions } from "../harness/cluster.ts";
import { openSse, submitTask, type Frame } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
  setRetryAfterDefault(DEFAULT_RETRY_AFTER_MS); // the retry hint is process-wide
});

/** One node, one pool with one slot; `slow` tokens keep the slot busy until canceled. */
async function oneSlot(control: ClusterOptions["control"] = {}, tokenDelayMs = 20): Promise<Cluster> {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0")] }],
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 1, faults: { tokenDelayMs } }),
    control,
  });
  await cluster.ready();
  return cluster;
}

async function scrape(c: Cluster): Promise<string> {
  return (await fetch(`${c.url}/metrics`)).text();
}

/** Sum of the samples of `name` whose labels include `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.split(" ").at(-1));
  }
  return sum;
}

async function cancel(c: Cluster, id: string): Promise<void> {
  await fetch(`${c.url}/v2/tasks/${id}/cancel`, { method: "POST" });
}

test("a full queue under reject answers 429 ADMISSION_REJECT with Retry-After, X-Backoff-Ms and the policy body", async () => {
  const c = await oneSlot({ capacity: 1, policy: "reject" });
  const running = await submitTask(c.url, { model_ref: "tiny", prompt: "busy", max_tokens: 5000 });
  const queued = await submitTask(c.url, { model_ref: "tiny", prompt: "waits", max_tokens: 5 });
  expect([running.status, queued.status]).toEqual([202, 202]);
  expect(queued.json.queue_position).toBe(0);
  expect(queued.json.predicted_start_ms).toBeGreaterThan(0); // the only slot is busy

  const refused = await submitTask(c.url, { model_ref: "tiny", prompt: "no room", max_tokens: 5 });
  expect(refused.status).toBe(429);
  expect(refused.headers.get("retry-after")).toBe("1");
  expect(refused.headers.get("x-backoff-ms")).toBe("1000");
  expect(refused.headers.get("x-correlation-id")).toBeTruthy();
  expect(refused.json).toMatchObject({ code: "ADMISSION_REJECT", policy_label: "reject", retriable: true, retry_after_ms: 1000 });

  const m = await scrape(c);
  expect(sample(m, "tasks_rejected_total", { reason: "ADMISSION_REJECT" })).toBe(1);
  expect(sample(m, "admission_backpressure_events_total", { policy: "reject" })).toBe(1);
  await cancel(c, running.json.task_id);
});

test("the configured retry hint (ORCHD_RETRY_AFTER_MS) is what a retriable refusal carries, in the body and the headers", async () => {
  const c = await oneSlot({ capacity: 1, policy: "reject", retryAfterMs: 2500 });
  expect(retryAfterDefaultMs()).toBe(2500);
  const running = await submitTask(c.url, { model_ref: "tiny", prompt: "busy", max_tokens: 5000 });
  await submitTask(c.url, { model_ref: "tiny", prompt: "waits", max_tokens: 5 });
  const refused = await submitTask(c.url, { model_ref: "tiny", prompt: "no room", max_tokens: 5 });
  expect(refused.status).toBe(429);
  expect(refused.json).toMatchObject({ code: "ADMISSION_REJECT", retriable: true, retry_after_ms: 2500 });
  expect(refused.headers.get("x-backoff-ms")).toBe("2500");
  expect(refused.headers.get("retry-after")).toBe("2");
  await cancel(c, running.json.task_id);
});

test("a model the catalog retired is refused at admission (MODEL_NOT_AVAILABLE) until it is active again", async () => {
  const c = await oneSlot();
  const post = (path: string, body: unknown) => fetch(`${c.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect((await post("/v2/catalog/models", { id: "tiny" })).status).toBe(201);
  expect((await post("/v2/catalog/models/tiny/state", { state: "Retired" })).status).toBe(202);
  const refused = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 2 });
  expect(refused.status).toBe(503);
  expect(refused.json).toMatchObject({ code: "MODEL_NOT_AVAILABLE", message: "model 'tiny' is retired in the catalog" });
  expect((await post("/v2/catalog/models/tiny/state", { state: "Active" })).status).toBe(202);
  const accepted = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 2 });
  expect(accepted.status).toBe(202);
});

test("drop-lru evicts the oldest queued task of the same or lower priority; its client sees QUEUE_FULL_DROP_LRU", async () => {
  const c = await oneSlot({ capacity: 1, policy: "drop-lru" });
  const running = await submitTask(c.url, { model_ref: "tiny", prompt: "busy", max_tokens: 5000 });
  const victim = await submitTask(c.url, { model_ref: "tiny", prompt: "old batch", max_tokens: 5, priority: "batch" });
  const victimStream = await openSse(`${c.url}${victim.json.streams.sse}`);

  const newcomer = await submitTask(c.url, { model_ref: "tiny", prompt: "new", max_tokens: 3, priority: "interactive" });
  expect(newcomer.status).toBe(202);
  const frames: Frame[] = [];
  for await (const f of victimStream.frames) frames.push(f);
  expect(frames).toEqual([{ event: "error", data: expect.objectContaining({ code: "QUEUE_FULL_DROP_LRU", retriable: true, retry_after_ms: 1000 }) }]);

  // Only an interactive task is queued now: a batch newcomer has nothing it may evict.
  const batch = await submitTask(c.url, { model_ref: "tiny", prompt: "late batch", max_tokens: 3, priority: "batch" });
  expect(batch.status).toBe(429);
  expect(batch.json).toMatchObject({ code: "QUEUE_FULL_DROP_LRU", policy_label: "drop-lru", retriable: true });
  expect(batch.headers.get("retry-after")).toBe("1");

  // The newcomer still runs once the slot frees.
  await cancel(c, running.json.task_id);
  const kinds: string[] = [];
  for await (const f of (await openSse(`${c.url}${newcomer.json.streams.sse}`)).frames) if (f.event !== "metrics") kinds.push(f.event);
  expect(kinds).toEqual(["started", "token", "token", "token", "end"]);
  const m = await scrape(c);
  expect(sample(m, "tasks_rejected_total", { reason: "QUEUE_FULL_DROP_LRU" })).toBe(2);
  expect(sample(m, "admission_backpressure_events_total", { policy: "drop-lru" })).toBe(2);
});

test("per-token rate limits answer 429 with the limit named and a retry time", async () => {
  const c = await oneSlot({ rateLimits: { rps: 1 } }, 0);
  expect((await submitTask(c.url, { model_ref: "tiny", prompt: "a", max_tokens: 1 })).status).toBe(202);
  const limited = await submitTask(c.url, { model_ref: "tiny", prompt: "b", max_tokens: 1 });
  expect(limited.status).toBe(429);
  expect(limited.json).toMatchObject({ code: "ADMISSION_REJECT", policy_label: "rate.rps", retriable: true });
  expect(Number(limited.headers.get("x-backoff-ms"))).toBeGreaterThan(0);
});

test("deadlines: non-positive is refused, one that passes mid-stream ends it with DEADLINE_UNMET", async () => {
  const c = await oneSlot({}, 20);
  const zero = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 5, deadline_ms: 0 });
  expect(zero.status).toBe(400);
  expect(zero.json.code).toBe("DEADLINE_UNMET");

  const tight = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 1000, deadline_ms: 200 });
  expect(tight.status).toBe(202);
  const frames: Frame[] = [];
  for await (const f of (await openSse(`${c.url}${tight.json.streams.sse}`)).frames) frames.push(f);
  expect(frames[0]!.event).toBe("started");
  expect(frames.at(-1)).toEqual({ event: "error", data: expect.objectContaining({ code: "DEADLINE_UNMET" }) });

  // Now the pool's rate is measured (~50 tokens/s): 1000 tokens in 200 ms cannot be met.
  const infeasible = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 1000, deadline_ms: 200 });
  expect(infeasible.status).toBe(400);
  expect(infeasible.json).toMatchObject({ code: "DEADLINE_UNMET", message: expect.stringContaining("cannot be met") });
});

test("pins: an unknown pool is INVALID_PARAMS, an unready one POOL_UNREADY, an unknown node NODE_UNAVAILABLE; a valid pin is honoured", async () => {
  cluster = await startCluster({
    nodes: [
      { id: "n1", pools: [mockPool("p0"), mockPool("p1")] },
      { id: "n2", pools: [mockPool("broken")] },
    ],
    engineFactory: (pool, _r, clock) => new MockEngine({ clock, slots: 1, faults: pool.id === "broken" ? { unready: true } : {} }),
  });
  const c = cluster;
  await new Promise<void>((resolve) => {
    const check = async () => {
      const nodes = ((await (await fetch(`${c.url}/v2/nodes`)).json()) as any).nodes as { status: string; pools: { pool_id: string; ready: boolean }[] }[];
      return nodes.length === 2 && nodes.every((n) => n.status === "Online") && nodes.flatMap((n) => n.pools).filter((p) => p.ready).length === 2;
    };
    const off = c.control.plane.system.events.on((e) => {
      if (e.type === "delivered" && e.path === "control/registry") void check().then((ok) => ok && (off(), resolve()));
    });
    void check().then((ok) => ok && (off(), resolve()));
  });
  const unknown = await submitTask(c.url, { model_ref: "tiny", max_tokens: 1, placement: { mode: "pin", pin_pool_id: "nope" } });
  expect(unknown.status).toBe(400);
  expect(unknown.json.code).toBe("INVALID_PARAMS");
  const unready = await submitTask(c.url, { model_ref: "tiny", max_tokens: 1, placement: { mode: "pin", pin_pool_id: "broken" } });
  expect(unready.status).toBe(503);
  expect(unready.json).toMatchObject({ code: "POOL_UNREADY", retriable: true });
  const node = await submitTask(c.url, { model_ref: "tiny", max_tokens: 1, placement: { node_id: "n9" } });
  expect(node.status).toBe(503);
  expect(node.json.code).toBe("NODE_UNAVAILABLE");

  const pinned = await submitTask(c.url, { model_ref: "tiny", prompt: "here", max_tokens: 2, placement: { mode: "pin", pin_pool_id: "p1" } });
  expect(pinned.status).toBe(202);
  const first = (await openSse(`${c.url}${pinned.json.streams.sse}`)).frames[Symbol.asyncIterator]();
  expect((await first.next()).value).toMatchObject({ event: "started", data: { pool_id: "p1", node_id: "n1" } });
  const m = await scrape(c);
  expect(sample(m, "placement_decisions_total", { outcome: "assigned", pinned: "true" })).toBe(1);
});

test("session budgets: headers on the 202 and on the stream, spending, and a 429 when exhausted", async () => {
  const c = await oneSlot({ sessions: { budgets: { tokens: 10 } } }, 0);
  const a = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 6, session_id: "s1" });
  expect(a.status).toBe(202);
  expect(a.headers.get("x-budget-tokens-remaining")).toBe("4");
  expect(a.headers.get("x-budget-time-remaining-ms")).toBeTruthy();
  expect(a.headers.get("x-budget-cost-remaining")).toBeTruthy();
  const sse = await openSse(`${c.url}${a.json.streams.sse}`);
  expect(sse.headers.get("x-budget-tokens-remaining")).toBe("4");
  for await (const _ of sse.frames);

  const session = await (await fetch(`${c.url}/v2/sessions/s1`)).json();
  expect(session).toMatchObject({ turns: 1, tokens_budget_remaining: 4 });

  const over = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 6, session_id: "s1" });
  expect(over.status).toBe(429);
  expect(over.json).toMatchObject({ code: "ADMISSION_REJECT", policy_label: "session.tokens_budget" });
  expect((await fetch(`${c.url}/v2/sessions/s1`, { method: "DELETE" })).status).toBe(204);
  expect((await fetch(`${c.url}/v2/sessions/s1`)).status).toBe(404);
});

test("the idle watchdog ends a stream whose engine stopped producing with DECODE_TIMEOUT and frees the slot", async () => {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0")] }],
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 1, faults: { hangAfterTokens: 2 } }),
    control: { timeouts: { idle_ms: 150 } },
  });
  await cluster.ready();
  const t = await submitTask(cluster.url, { model_ref: "tiny", prompt: "x", max_tokens: 10 });
  const frames: Frame[] = [];
  for await (const f of (await openSse(`${cluster.url}${t.json.streams.sse}`)).frames) frames.push(f);
  expect(frames.filter((f) => f.event === "token")).toHaveLength(2);
  expect(frames.at(-1)).toEqual({ event: "error", data: expect.objectContaining({ code: "DECODE_TIMEOUT", retriable: true }) });
  const m = await scrape(cluster);
  expect(sample(m, "tasks_canceled_total", { reason: "watchdog" })).toBe(1);
});

test("meta: capabilities from the live pools and the API version", async () => {
  const c = await oneSlot({}, 0);
  const caps: any = await (await fetch(`${c.url}/v2/meta/capabilities`)).json();
  expect(caps.api_version).toBe("2.0.0");
  expect(caps.engines).toEqual([expect.objectContaining({ engine: "mock", concurrency: 1, slots_total: 1, pools: 1, ctx_max: expect.any(Number) })]);
  const version = await (await fetch(`${c.url}/v2/meta/version`)).json();
  expect(version).toMatchObject({ api_version: "2.0.0", build_commit: expect.any(String) });
});

test("size limits: a too-large body is 413 and a too-large header 431, both in the error envelope", async () => {
  const c = await oneSlot({ maxBodyBytes: 1024 }, 0);
  const big = await fetch(`${c.url}/v2/tasks`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model_ref: "tiny", max_tokens: 1, prompt: "x".repeat(4096) }) });
  expect(big.status).toBe(413);
  expect(await big.json()).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining("1024") });
  const header = await fetch(`${c.url}/v2/nodes`, { headers: { "x-big": "a".repeat(9000) } });
  expect(header.status).toBe(431);
  expect(((await header.json()) as any).code).toBe("INVALID_PARAMS");
  expect(header.headers.get("x-correlation-id")).toBeTruthy();
});

test("ctx guardrails: a request larger than every pool's context is INVALID_PARAMS naming the limit", async () => {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { ctx: 512 })] }],
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 1 }),
  });
  await cluster.ready();
  const c = cluster;
  const tooLong = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 600 });
  expect(tooLong.status).toBe(400);
  expect(tooLong.json).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining("512") });
  const ctx = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 10, ctx: 4096 });
  expect(ctx.status).toBe(400);
  expect(ctx.json.code).toBe("INVALID_PARAMS");
  const overCtx = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 100, ctx: 50 });
  expect(overCtx.json).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining("exceeds the requested ctx") });
  const fits = await submitTask(c.url, { model_ref: "tiny", prompt: "x", max_tokens: 100, ctx: 512 });
  expect(fits.status).toBe(202);
  const caps = (await (await fetch(`${c.url}/v2/meta/capabilities`)).json()) as any;
  expect(caps.engines[0].ctx_max).toBe(512);
});
