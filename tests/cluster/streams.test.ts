// Stream behaviour over SSE against a real cluster: a late subscriber gets what it missed and then
// the live stream; verbose readers get narration on metrics frames; the transcript of every task
// is stored as an artifact; a slow reader loses no token.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect, openSse, submitTask, type Frame } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

async function start(tokenDelayMs: number, metricsIntervalMs?: number): Promise<Cluster> {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0")] }],
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 1, faults: { tokenDelayMs } }),
    control: { metricsIntervalMs },
  });
  await cluster.ready();
  return cluster;
}

test("a late subscriber first receives what it missed, then the live stream, identical to the first reader", async () => {
  const c = await start(5);
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "late", max_tokens: 40 });
  const early = await openSse(`${c.url}${t.json.streams.sse}`);
  const seen: Frame[] = [];
  let late: Promise<{ frames: Frame[] }> | undefined;
  for await (const f of early.frames) {
    seen.push(f);
    if (f.event === "token" && f.data.i === 10) late = collect(`${c.url}${t.json.streams.sse}`);
  }
  const lateFrames = (await late!).frames;
  const tokens = (fs: Frame[]) => fs.filter((f) => f.event === "token").map((f) => f.data.t);
  expect(tokens(lateFrames)).toEqual(tokens(seen));
  expect(tokens(lateFrames)).toHaveLength(40);
  expect(lateFrames[0]!.event).toBe("started");
  expect(lateFrames.at(-1)!.event).toBe("end");
});

test("after a task's actor is gone, a subscriber gets its whole stream from the transcript and a cancel is a no-op", async () => {
  const c = await start(0);
  const path = (id: string) => `control/tasks/${id}`;
  const id = "gone-task";
  const gone = new Promise<void>((resolve) => {
    const off = c.control.plane.system.events.on((e) => {
      if (e.type === "stopped" && e.path === path(id)) {
        off();
        resolve();
      }
    });
  });
  const t = await submitTask(c.url, { task_id: id, model_ref: "tiny", prompt: "gone", max_tokens: 6 });
  const first = await collect(`${c.url}${t.json.streams.sse}`);
  await gone; // the ended task stops once its transcript is committed
  expect(c.control.plane.system.isAlive(path(t.json.task_id))).toBe(false);
  const later = await collect(`${c.url}${t.json.streams.sse}`);
  const shape = (fs: Frame[]) => fs.map((f) => [f.event, f.event === "token" ? f.data : undefined]);
  expect(shape(later.frames)).toEqual(shape(first.frames));
  expect(later.frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 6 } });
  expect((await fetch(`${c.url}/v2/tasks/${t.json.task_id}/cancel`, { method: "POST" })).status).toBe(204);
  expect((await fetch(`${c.url}/v2/tasks/nope/events`)).status).toBe(404);
  expect((await fetch(`${c.url}/v2/tasks/nope/cancel`, { method: "POST" })).status).toBe(404);
});

test("verbose readers get narration on metrics frames; others get the same frames without it", async () => {
  const c = await start(20, 50);
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "talk", max_tokens: 10 });
  const [plain, verbose] = await Promise.all([collect(`${c.url}${t.json.streams.sse}`), collect(`${c.url}${t.json.streams.sse_verbose}`)]);
  const m1 = plain.frames.filter((f) => f.event === "metrics");
  const m2 = verbose.frames.filter((f) => f.event === "metrics");
  expect(m1.length).toBeGreaterThan(0);
  expect(m2.length).toBe(m1.length);
  expect(m1[0]!.data).toMatchObject({ queue_depth: 0, on_time_probability: expect.any(Number), kv_warmth: false, tokens_budget_remaining: expect.any(Number), time_budget_remaining_ms: expect.any(Number), cost_budget_remaining: expect.any(Number) });
  expect(m1[0]!.data.human).toBeUndefined();
  expect(m2[0]!.data.human).toContain("Streaming on pool p0");
});

test("every task's transcript is stored as an artifact, the prompt redacted, findable by its task tag", async () => {
  const c = await start(0);
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "do not store me", max_tokens: 3, session_id: "s-art" });
  const stream = await collect(`${c.url}${t.json.streams.sse}`);
  expect(stream.frames.at(-1)!.event).toBe("end");

  const list = async () => (await (await fetch(`${c.url}/v2/artifacts?tag=task:${t.json.task_id}&kind=trace`)).json()) as any;
  // The transcript is committed before the end event goes out; wait on messages, not on time, all the same.
  const found = await whenTrue(c, async () => ((await list()).count === 1 ? await list() : undefined));
  const ref = found.artifacts[0];
  expect(ref.tags).toEqual(["sse", "stream", `task:${t.json.task_id}`, "session:s-art"]);
  const doc = (await (await fetch(`${c.url}/v2/artifacts/${ref.id}`)).json()) as any;
  // Token frames are folded into runs: the tokens the client saw, in order.
  const entries = doc.content.events.filter((e: { type: string }) => e.type !== "metrics");
  expect(entries.map((e: { type: string }) => e.type)).toEqual(["started", "tokens", "end"]);
  expect(entries[1].data).toEqual({ from: 0, t: stream.frames.filter((f) => f.event === "token").map((f) => f.data.t) });
  expect(doc.content).toMatchObject({ job_id: t.json.task_id, session_id: "s-art", outcome: "completed", tokens_out: 3 });
  expect(JSON.stringify(doc)).not.toContain("do not store me");
  expect(doc.metadata).toMatchObject({ engine: "mock", pool_id: "p0", node_id: "n1" });
  expect((await fetch(`${c.url}/v2/artifacts?limit=0`)).status).toBe(400);
});

/** Re-checks after each message the artifact and task actors handle until `check` yields a value. */
async function whenTrue<T>(c: Cluster, check: () => Promise<T | undefined>): Promise<T> {
  const first = await check();
  if (first !== undefined) return first;
  return new Promise<T>((resolve, reject) => {
    let busy = false;
    let again = false; // an event came while a check was running
    const run = () => {
      busy = true;
      again = false;
      check().then(
        (v) => {
          busy = false;
          if (v !== undefined) {
            off();
            resolve(v);
          } else if (again) run();
        },
        (err) => {
          off();
          reject(err);
        },
      );
    };
    const off = c.control.plane.system.events.on((e) => {
      // The task actor hears when its transcript is committed; list requests pass control/artifacts.
      if (e.type !== "delivered" || (e.path !== "control/artifacts" && !e.path.startsWith("control/tasks/"))) return;
      if (busy) again = true;
      else run();
    });
  });
}

test("a reader that stops reading mid-stream loses no token: it gets the whole stream when it resumes", async () => {
  const c = await start(0, 1);
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "slow reader", max_tokens: 20_000 });
  const { connect } = await import("node:net");
  const url = new URL(c.url);
  const socket = connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("data", (d: Buffer) => chunks.push(d));
  try {
    socket.write(`GET ${t.json.streams.sse} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
    socket.pause(); // the reader stops reading while the task streams all its tokens
    await whenTrue(c, async () => {
      const list = (await (await fetch(`${c.url}/v2/artifacts?tag=task:${t.json.task_id}`)).json()) as any;
      return list.count === 1 ? true : undefined;
    });
    socket.resume();
    await closed;
  } finally {
    socket.destroy();
  }
  const raw = Buffer.concat(chunks);
  const body = dechunk(raw.subarray(raw.indexOf("\r\n\r\n") + 4));
  const frames = body.split("\n\n").filter((f) => f.startsWith("event:"));
  const tokens = frames.filter((f) => f.startsWith("event: token")).map((f) => JSON.parse(f.split("\n")[1]!.slice(6)).i);
  expect(tokens).toHaveLength(20_000);
  expect(tokens.every((i, k) => i === k)).toBe(true);
  expect(frames.at(-1)!.startsWith("event: end")).toBe(true);
}, 30_000);

/** Decodes an HTTP/1.1 chunked body (sizes are in bytes). */
function dechunk(bytes: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = bytes.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = Number.parseInt(bytes.subarray(at, eol).toString("latin1"), 16);
    if (!size) break;
    parts.push(bytes.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts).toString("utf8");
}
