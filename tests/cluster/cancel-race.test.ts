// Many concurrent cancels at random points (before placement, while queued, mid-stream): each
// stream ends with end{canceled:true}; the tokens the client got are exactly the tokens_out of
// that end (nothing follows the acknowledgement); every engine slot is freed afterwards.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { openSse, submitTask, type Frame } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Seeded so a failure can be replayed. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test("40 concurrent tasks canceled at random points: no token after the ack, every slot freed", async () => {
  const engines: MockEngine[] = [];
  cluster = await startCluster({
    nodes: [
      { id: "n1", pools: [mockPool("p0", "tiny", { slots: 4 })] },
      { id: "n2", pools: [mockPool("p0", "tiny", { slots: 4 })] },
    ],
    engineFactory: (_p, _r, clock) => {
      const e = new MockEngine({ clock, slots: 4, faults: { tokenDelayMs: 1 } });
      engines.push(e);
      return e;
    },
  });
  await cluster.ready();
  const c = cluster;
  const random = lcg(42);

  const runOne = async (n: number) => {
    const cancelAt = Math.floor(random() * 40) - 5; // < 0: cancel before reading anything
    const a = await submitTask(c.url, { model_ref: "tiny", prompt: `race ${n}`, max_tokens: 2000, task_id: `race-${n}` });
    expect(a.status).toBe(202);
    const sse = await openSse(`${c.url}${a.json.streams.sse}`);
    const frames: Frame[] = [];
    let acked = false;
    const doCancel = async () => {
      acked = true;
      const res = await fetch(`${c.url}/v2/tasks/${a.json.task_id}/cancel`, { method: "POST" });
      expect(res.status).toBe(204);
    };
    if (cancelAt < 0) await doCancel();
    for await (const f of sse.frames) {
      frames.push(f);
      if (!acked && f.event === "token" && f.data.i >= cancelAt) await doCancel();
    }
    if (!acked) await doCancel(); // finished before its cancel point: cancel is still 204
    const end = frames.at(-1)!;
    const tokens = frames.filter((f) => f.event === "token");
    expect(frames.filter((f) => f.event === "end" || f.event === "error")).toHaveLength(1);
    expect(end.event).toBe("end");
    if (end.data.canceled) {
      expect(end.data.tokens_out).toBe(tokens.length);
      expect(tokens.length).toBeLessThan(2000);
    }
    expect(tokens.map((t) => t.data.i)).toEqual(tokens.map((_, i) => i));
  };
  await Promise.all(Array.from({ length: 40 }, (_, i) => runOne(i)));

  // The engines saw every cancel: nothing is generating any more, and a new task runs at once.
  const next = await submitTask(c.url, { model_ref: "tiny", prompt: "after", max_tokens: 3 });
  const kinds: string[] = [];
  for await (const f of (await openSse(`${c.url}${next.json.streams.sse}`)).frames) if (f.event !== "metrics") kinds.push(f.event);
  expect(kinds).toEqual(["started", "token", "token", "token", "end"]);
  expect(engines.reduce((n, e) => n + e.active, 0)).toBe(0);
}, 60_000);
