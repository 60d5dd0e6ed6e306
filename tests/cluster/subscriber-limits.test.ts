// Subscriber limits against a real cluster: one task's subscribers and all open subscribers are
// bounded (ORCHD_MAX_SUBSCRIBERS_PER_TASK, ORCHD_MAX_SUBSCRIBERS). One over is refused with 429
// ADMISSION_REJECT (`subscriber-limit`) over SSE, the OpenAI API and /v2/ws; a stream that ends
// gives its slot back.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect, openSse, submitTask, type SseOpen } from "../harness/sse.ts";
import { openWs, type WsClient } from "../harness/ws.ts";

let cluster: Cluster | undefined;
const open: SseOpen[] = [];
const sockets: WsClient[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) await s.close();
  for (const s of open.splice(0)) s.abort?.();
  await cluster?.close();
  cluster = undefined;
});

test("one subscriber too many is refused with 429 subscriber-limit; an ended stream frees its slot", async () => {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { slots: 2 })] }],
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 2, faults: { tokenDelayMs: 20 } }),
    control: { subscribers: { perTask: 2, total: 3 } },
  });
  await cluster.ready();
  const base = cluster.url;
  const long = await submitTask(base, { model_ref: "tiny", prompt: "long", max_tokens: 4000 });
  const sse = `${base}${long.json.streams.sse}`;
  open.push(await openSse(sse), await openSse(sse));

  const third = await fetch(sse);
  expect(third.status).toBe(429);
  expect(third.headers.get("retry-after")).not.toBeNull();
  expect(await third.json()).toMatchObject({ code: "ADMISSION_REJECT", policy_label: "subscriber-limit", retriable: true });

  // The total: a short task's stream takes the last slot, so a third task cannot be watched ...
  const short = await submitTask(base, { model_ref: "tiny", prompt: "short", max_tokens: 3 });
  const other = await submitTask(base, { model_ref: "tiny", prompt: "other", max_tokens: 3 });
  const shortStream = await openSse(`${base}${short.json.streams.sse}`);
  const refused = await fetch(`${base}${other.json.streams.sse}`);
  expect(refused.status).toBe(429);
  expect(((await refused.json()) as { message: string }).message).toContain("3 streams are open");
  const ws = await openWs(base);
  sockets.push(ws);
  ws.send({ type: "subscribe", task_id: other.json.task_id });
  expect(await ws.next((f) => f.type === "rejected")).toMatchObject({ task_id: other.json.task_id, error: { code: "ADMISSION_REJECT", policy_label: "subscriber-limit" } });

  // ... until the short stream ends: then it can.
  const shortFrames: { event: string }[] = [];
  for await (const f of shortStream.frames) shortFrames.push(f);
  expect(shortFrames.at(-1)?.event).toBe("end");
  const watched = await collect(`${base}${other.json.streams.sse}`);
  expect(watched.status).toBe(200);
  expect(watched.frames.at(-1)?.event).toBe("end");
});
