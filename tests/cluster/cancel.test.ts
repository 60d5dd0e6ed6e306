// Cancel of a queued and of a streaming task: 204, the stream ends with end{canceled:true}, no
// token follows the acknowledgement, and the engine slot is freed for the next task.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { openSse, submitTask, type Frame } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

const engines: MockEngine[] = [];
function trackedCluster(faults: ConstructorParameters<typeof MockEngine>[0]["faults"]) {
  engines.length = 0;
  return startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0")] }],
    engineFactory: (_pool, _replica, clock) => {
      const engine = new MockEngine({ clock, slots: 1, faults });
      engines.push(engine);
      return engine;
    },
  });
}

async function cancel(base: string, id: string): Promise<Response> {
  return fetch(`${base}/v2/tasks/${id}/cancel`, { method: "POST" });
}

test("canceling a streaming task: no token after the ack, and the slot is freed", async () => {
  cluster = await trackedCluster({ tokenDelayMs: 2 });
  await cluster.ready();
  const a = await submitTask(cluster.url, { model_ref: "tiny", prompt: "long", max_tokens: 5000 });
  expect(a.status).toBe(202);
  const sse = await openSse(`${cluster.url}${a.json.streams.sse}`);
  const frames: Frame[] = [];
  let acked = false;
  let framesAtAck = -1;
  for await (const f of sse.frames) {
    frames.push(f);
    if (f.event === "token" && f.data.i === 2 && !acked) {
      const res = await cancel(cluster.url, a.json.task_id);
      expect(res.status).toBe(204);
      expect(res.headers.get("x-correlation-id")).toBeTruthy();
      acked = true;
      framesAtAck = frames.length;
    }
  }
  expect(acked).toBe(true);
  const last = frames.at(-1)!;
  expect(last.event).toBe("end");
  expect(last.data.canceled).toBe(true);
  const tokens = frames.filter((f) => f.event === "token");
  // Everything after the cancel's `end` is nothing; tokens seen match what the end reports.
  expect(frames.findIndex((f) => f.event === "end")).toBe(frames.length - 1);
  expect(last.data.tokens_out).toBe(tokens.length);
  expect(tokens.length).toBeLessThan(5000);
  expect(framesAtAck).toBeGreaterThan(0);

  // Cancel is idempotent for a known task; unknown ids are 404.
  expect((await cancel(cluster.url, a.json.task_id)).status).toBe(204);
  expect((await cancel(cluster.url, "no-such-task")).status).toBe(404);

  // The engine stopped generating and the only slot serves the next task.
  const b = await submitTask(cluster.url, { model_ref: "tiny", prompt: "next", max_tokens: 3 });
  const next = await openSse(`${cluster.url}${b.json.streams.sse}`);
  const kinds: string[] = [];
  for await (const f of next.frames) if (f.event !== "metrics") kinds.push(f.event);
  expect(kinds).toEqual(["started", "token", "token", "token", "end"]);
  expect(engines[0]!.active).toBe(0);
});

test("canceling a queued task ends its stream with no token and it never reaches the engine", async () => {
  // The first task hangs in the only slot, so the second waits in the queue.
  cluster = await trackedCluster({ hangAfterTokens: 1 });
  await cluster.ready();
  const first = await submitTask(cluster.url, { model_ref: "tiny", prompt: "hog", max_tokens: 100 });
  const firstSse = await openSse(`${cluster.url}${first.json.streams.sse}`);
  const it = firstSse.frames[Symbol.asyncIterator]();
  expect((await it.next()).value.event).toBe("started");
  expect((await it.next()).value.event).toBe("token");

  const queued = await submitTask(cluster.url, { model_ref: "tiny", prompt: "waiting", max_tokens: 10 });
  expect(queued.status).toBe(202);
  const sse = await openSse(`${cluster.url}${queued.json.streams.sse}`);
  const res = await cancel(cluster.url, queued.json.task_id);
  expect(res.status).toBe(204);
  const frames: Frame[] = [];
  for await (const f of sse.frames) frames.push(f);
  expect(frames.map((f) => f.event)).toEqual(["end"]);
  expect(frames[0]!.data).toMatchObject({ canceled: true, tokens_out: 0 });
  expect(engines[0]!.submitted).toEqual([first.json.task_id]);

  // The hung task is canceled too, which frees the slot.
  expect((await cancel(cluster.url, first.json.task_id)).status).toBe(204);
  const rest: string[] = [];
  for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value.event);
  // A metrics frame may precede the cancel; nothing but `end` follows the tokens.
  expect(rest.filter((e) => e !== "metrics")).toEqual(["end"]);
});

test("a client that disconnects cancels its task", async () => {
  cluster = await trackedCluster({ tokenDelayMs: 2 });
  await cluster.ready();
  const a = await submitTask(cluster.url, { model_ref: "tiny", prompt: "bye", max_tokens: 5000 });
  const sse = await openSse(`${cluster.url}${a.json.streams.sse}`);
  const ended = new Promise<void>((resolve) => {
    const off = cluster!.control.plane.system.events.on((e) => {
      if (e.type === "delivered" && e.path === "control/scheduler" && e.msg === "task-ended") {
        off();
        resolve();
      }
    });
  });
  for await (const f of sse.frames) if (f.event === "token") break;
  sse.abort();
  await ended;
  // A late subscriber sees the whole story: started, tokens, then the canceled end.
  const replay = await openSse(`${cluster.url}${a.json.streams.sse}`);
  const frames: Frame[] = [];
  for await (const f of replay.frames) frames.push(f);
  expect(frames[0]!.event).toBe("started");
  expect(frames.at(-1)!.event).toBe("end");
  expect(frames.at(-1)!.data.canceled).toBe(true);
});

test("a disconnect cancels only when the last subscriber leaves", async () => {
  cluster = await trackedCluster({ tokenDelayMs: 2 });
  await cluster.ready();
  const a = await submitTask(cluster.url, { model_ref: "tiny", prompt: "shared", max_tokens: 300 });
  const leaving = await openSse(`${cluster.url}${a.json.streams.sse}`);
  const staying = await openSse(`${cluster.url}${a.json.streams.sse}`);
  for await (const f of leaving.frames) if (f.event === "token") break;
  leaving.abort();
  const frames: Frame[] = [];
  for await (const f of staying.frames) frames.push(f);
  expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 300 } });
  expect(frames.at(-1)!.data.canceled).toBeUndefined();
});
