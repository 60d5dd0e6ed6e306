// A control plane and three nodes in one process: tasks spread across the nodes and every client
// receives its full stream, in order.

import { afterEach, expect, test } from "bun:test";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect, submitTask, getJson } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

test("tasks spread over three nodes and each client gets its whole stream in order", async () => {
  // 5 ms per token keeps each task busy long enough for the others to be placed elsewhere.
  const pool = (id: string) => mockPool(id, "tiny", { slots: 2, mock: { token_delay_ms: 5 } });
  cluster = await startCluster({ nodes: ["n1", "n2", "n3"].map((id) => ({ id, pools: [pool("p0")] })) });
  await cluster.ready();

  const N = 12;
  const TOKENS = 20;
  const admissions = await Promise.all(
    Array.from({ length: N }, (_, k) => submitTask(cluster!.url, { model_ref: "tiny", prompt: `client ${k}`, max_tokens: TOKENS, seed: k })),
  );
  for (const a of admissions) {
    expect(a.status).toBe(202);
    expect(a.headers.get("x-correlation-id")).toBeTruthy();
    expect(typeof a.json.queue_position).toBe("number");
    expect(typeof a.json.predicted_start_ms).toBe("number");
    expect(a.json.backoff_ms).toBe(0);
  }
  const streams = await Promise.all(admissions.map((a) => collect(`${cluster!.url}${a.json.streams.sse}`)));

  const nodesUsed = new Set<string>();
  for (const s of streams) {
    expect(s.status).toBe(200);
    expect(s.headers.get("content-type")).toContain("text/event-stream");
    const types = s.frames.map((f) => f.event);
    expect(types[0]).toBe("started");
    expect(types.at(-1)).toBe("end");
    expect(types.slice(1, -1).every((t) => t === "token" || t === "metrics")).toBe(true);
    // Metrics frames come only after the first token.
    expect(types.indexOf("metrics")).not.toBe(1);
    const tokens = s.frames.filter((f) => f.event === "token").map((f) => f.data.i);
    expect(tokens).toEqual(Array.from({ length: TOKENS }, (_, i) => i));
    expect(s.frames.at(-1)!.data).toMatchObject({ tokens_out: TOKENS });
    expect(s.frames.at(-1)!.data.decode_ms).toBe(s.frames.at(-1)!.data.decode_time_ms);
    nodesUsed.add(s.frames[0]!.data.node_id);
  }
  expect([...nodesUsed].sort()).toEqual(["n1", "n2", "n3"]);
  for (const s of streams) expect(s.headers.get("x-correlation-id")).toBeTruthy();

  // The metrics agree with what the clients saw.
  const text = await (await fetch(`${cluster.url}/metrics`)).text();
  const total = (name: string) =>
    text
      .split("\n")
      .filter((l) => l.startsWith(`${name}{`))
      .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
  expect(total("tasks_enqueued_total")).toBe(N);
  expect(total("tasks_started_total")).toBe(N);
  expect(total("tokens_out_total")).toBe(N * TOKENS);
  expect(text).toContain("# TYPE latency_first_token_ms histogram");
  expect(text).toMatch(/orchd_nodes_online 3/);
});

test("the same prompt and seed give the same tokens on any node", async () => {
  cluster = await startCluster({ nodes: ["n1", "n2"].map((id) => ({ id, pools: [mockPool("p0", "tiny", { mock: { token_delay_ms: 5 } })] })) });
  await cluster.ready();
  const body = { model_ref: "tiny", prompt: "determinism", max_tokens: 12, seed: 7 };
  const [a, b] = await Promise.all([submitTask(cluster.url, body), submitTask(cluster.url, body)]);
  const [sa, sb] = await Promise.all([collect(`${cluster.url}${a.json.streams.sse}`), collect(`${cluster.url}${b.json.streams.sse}`)]);
  expect(sa.frames[0]!.data.node_id).not.toBe(sb.frames[0]!.data.node_id);
  const text = (frames: typeof sa.frames) => frames.filter((f) => f.event === "token").map((f) => f.data.t).join("");
  expect(text(sa.frames)).toBe(text(sb.frames));
  expect(text(sa.frames).length).toBeGreaterThan(0);
});

test("GET /v2/nodes lists every node with its status and pools", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0"), mockPool("p1", "other")] }, { id: "n2", pools: [mockPool("p0")] }] });
  await cluster.ready();
  const ready = await fetch(`${cluster.url}/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ ready: true, nodes_online: 2 });
  const res = await fetch(`${cluster.url}/v2/nodes`);
  expect(res.status).toBe(200);
  const body: any = await res.json();
  expect(body.count).toBe(2);
  const n1 = body.nodes.find((n: any) => n.node_id === "n1");
  expect(n1.status).toBe("Online");
  expect(n1.pools.map((p: any) => [p.pool_id, p.ready, p.models_available])).toEqual([
    ["p0", true, ["tiny"]],
    ["p1", true, ["other"]],
  ]);
});

test("a model no node serves is refused with MODEL_NOT_AVAILABLE", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0")] }] });
  await cluster.ready();
  const r = await submitTask(cluster.url, { model_ref: "missing", prompt: "x", max_tokens: 3 });
  expect(r.status).toBe(503);
  expect(r.json).toMatchObject({ code: "MODEL_NOT_AVAILABLE", retriable: true });
});

test("bad input gets the error envelope with 400 and a correlation id", async () => {
  cluster = await startCluster({ nodes: [{ id: "n1", pools: [mockPool("p0")] }] });
  await cluster.ready();
  const bad = await fetch(`${cluster.url}/v2/tasks`, { method: "POST", headers: { "content-type": "application/json", "x-correlation-id": "abc-123" }, body: "{nope" });
  expect(bad.status).toBe(400);
  expect(bad.headers.get("x-correlation-id")).toBe("abc-123");
  expect((await bad.json()) as any).toMatchObject({ code: "INVALID_PARAMS" });
  const zero = await submitTask(cluster.url, { model_ref: "tiny", prompt: "x", max_tokens: 0 });
  expect(zero.status).toBe(400);
  expect(zero.json.code).toBe("INVALID_PARAMS");
  expect(zero.json.message).toContain("max_tokens");
  const deadline = await submitTask(cluster.url, { model_ref: "tiny", prompt: "x", max_tokens: 3, deadline_ms: 0 });
  expect(deadline.status).toBe(400);
  expect(deadline.json.code).toBe("DEADLINE_UNMET");
  const unknown = await fetch(`${cluster.url}/v2/tasks/nope/events`);
  expect(unknown.status).toBe(404);
  expect(((await unknown.json()) as any).code).toBe("NOT_FOUND");
});
