import { describe, expect, test } from "bun:test";
import { createSseStream } from "./sse.ts";
import type { StreamEvent } from "../../contract/index.ts";

const M = { queue_depth: 0, on_time_probability: 1, kv_warmth: false, tokens_budget_remaining: 0, time_budget_remaining_ms: 0, cost_budget_remaining: 0 };

async function readAll(body: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(body).text();
}

function frames(text: string): { event: string; data: unknown }[] {
  return text
    .split("\n\n")
    .filter((f) => f.startsWith("event:"))
    .map((f) => {
      const [e, d] = f.split("\n");
      return { event: e!.slice("event: ".length), data: JSON.parse(d!.slice("data: ".length)) };
    });
}

describe("SSE stream", () => {
  test("a reader that does not read loses no token; metrics frames are dropped and counted", async () => {
    let drops = 0;
    const abort = new AbortController();
    const sse = createSseStream(abort.signal, { capacity: 8, onDrop: () => drops++ });
    sse.sink.push({ type: "started", data: { queue_position: 0, predicted_start_ms: 0 } });
    for (let i = 0; i < 5000; i++) {
      sse.sink.push({ type: "token", data: { t: `w${i} `, i } });
      if (i % 100 === 0) sse.sink.push({ type: "metrics", data: M });
    }
    sse.sink.push({ type: "end", data: { tokens_out: 5000, decode_time_ms: 1, decode_ms: 1 } });
    // Nothing was read so far; now the slow reader catches up.
    const got = frames(await readAll(sse.body));
    const tokens = got.filter((f) => f.event === "token").map((f) => (f.data as { i: number }).i);
    expect(tokens).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(got[0]!.event).toBe("started");
    expect(got.at(-1)!.event).toBe("end");
    const metrics = got.filter((f) => f.event === "metrics").length;
    expect(drops).toBeGreaterThan(0);
    expect(metrics + drops).toBe(50);
  });

  test("a reader that keeps up gets every metrics frame", async () => {
    let drops = 0;
    const sse = createSseStream(new AbortController().signal, { capacity: 8, onDrop: () => drops++ });
    const reader = sse.body.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value); // opening comment
    const events: StreamEvent[] = [
      { type: "started", data: { queue_position: 0, predicted_start_ms: 0 } },
      { type: "token", data: { t: "a", i: 0 } },
      { type: "metrics", data: { ...M, queue_depth: 1 } },
      { type: "token", data: { t: "b", i: 1 } },
      { type: "metrics", data: M },
      { type: "end", data: { tokens_out: 2, decode_time_ms: 1, decode_ms: 1 } },
    ];
    for (const e of events) {
      sse.sink.push(e);
      const chunk = await reader.read();
      text += decoder.decode(chunk.value);
    }
    expect((await reader.read()).done).toBe(true);
    expect(frames(text).map((f) => f.event)).toEqual(["started", "token", "metrics", "token", "metrics", "end"]);
    expect(drops).toBe(0);
  });

  test("nothing is written after the terminal event; a client leaving unsubscribes with cancel", async () => {
    const abort = new AbortController();
    const sse = createSseStream(abort.signal);
    const calls: unknown[] = [];
    sse.attach({ unsubscribe: (o) => calls.push(o) });
    abort.abort();
    expect(calls).toEqual([{ cancelIfLast: true }]);
    sse.sink.push({ type: "token", data: { t: "x", i: 0 } });

    const sse2 = createSseStream(new AbortController().signal);
    sse2.sink.push({ type: "error", data: { code: "WORKER_RESET", message: "lost" } });
    sse2.sink.push({ type: "token", data: { t: "late", i: 0 } });
    const got = frames(await readAll(sse2.body));
    expect(got.map((f) => f.event)).toEqual(["error"]);
  });
});
