// `n > 1` through the official `openai` client against a real control plane and node with the
// in-process mock engine (deterministic in prompt and seed): n tasks, one per choice, seeds
// seed + k, merged into choices[k] (streamed chunks with `index: k`), usage with the prompt once
// and every choice's completion tokens; a failing task fails the request, a client that leaves
// cancels every task, n above 8 is a 400 naming `n`.

import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import OpenAI, { APIError, BadRequestError } from "openai";
import { MockEngine } from "../../adapters/engines/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";

let cluster: Cluster;
let openai: OpenAI;
let engine: MockEngine;

beforeAll(async () => {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { slots: 4 })] }],
    engineFactory: (_pool, _replica, clock) => (engine = new MockEngine({ clock, slots: 4 })),
  });
  await cluster.ready();
  openai = new OpenAI({ baseURL: `${cluster.url}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => {
  await cluster?.close();
});
afterEach(() => {
  engine.faults = {};
});

const messages = [{ role: "user" as const, content: "tell me something" }];

/** Resolves when the scheduler has seen `count` tasks end. */
function tasksEnded(count: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    const off = cluster.control.plane.system.events.on((e) => {
      if (e.type === "delivered" && e.path === "control/scheduler" && e.msg === "task-ended" && ++seen === count) {
        off();
        resolve();
      }
    });
  });
}

test("chat, not streamed: n choices, choice k is the single answer with seed + k, usage sums the completions", async () => {
  const got = await openai.chat.completions.create({ model: "tiny", messages, max_tokens: 5, seed: 40, n: 3 });
  expect(got.choices.map((c) => c.index)).toEqual([0, 1, 2]);
  const singles = await Promise.all([40, 41, 42].map((seed) => openai.chat.completions.create({ model: "tiny", messages, max_tokens: 5, seed })));
  expect(got.choices.map((c) => c.message.content)).toEqual(singles.map((s) => s.choices[0]!.message.content));
  expect(new Set(got.choices.map((c) => c.message.content)).size).toBeGreaterThan(1); // the seeds differ
  expect(got.choices.every((c) => c.finish_reason === "length")).toBe(true);
  expect(got.usage).toEqual({ prompt_tokens: singles[0]!.usage!.prompt_tokens, completion_tokens: 15, total_tokens: singles[0]!.usage!.prompt_tokens + 15 });
});

test("chat, streamed: chunks carry index k, each choice's text is its single answer, one summed usage chunk", async () => {
  const stream = await openai.chat.completions.create({ model: "tiny", messages, max_tokens: 4, seed: 7, n: 2, stream: true, stream_options: { include_usage: true } });
  const texts = ["", ""];
  const finishes: (string | null)[] = [null, null];
  const usages: unknown[] = [];
  for await (const chunk of stream) {
    if (chunk.usage) usages.push(chunk.usage);
    for (const c of chunk.choices) {
      texts[c.index] += c.delta.content ?? "";
      if (c.finish_reason) finishes[c.index] = c.finish_reason;
    }
  }
  const singles = await Promise.all([7, 8].map((seed) => openai.chat.completions.create({ model: "tiny", messages, max_tokens: 4, seed })));
  expect(texts).toEqual(singles.map((s) => s.choices[0]!.message.content!));
  expect(finishes).toEqual(["length", "length"]);
  expect(usages).toEqual([{ prompt_tokens: singles[0]!.usage!.prompt_tokens, completion_tokens: 8, total_tokens: singles[0]!.usage!.prompt_tokens + 8 }]);
});

test("completions: n choices, streamed and not, with tool-free JSON formats per choice", async () => {
  const whole = await openai.completions.create({ model: "tiny", prompt: "once upon", max_tokens: 3, seed: 1, n: 2 });
  expect(whole.choices.map((c) => c.index)).toEqual([0, 1]);
  const texts = ["", ""];
  for await (const chunk of await openai.completions.create({ model: "tiny", prompt: "once upon", max_tokens: 3, seed: 1, n: 2, stream: true })) {
    for (const c of chunk.choices) texts[c.index] += c.text;
  }
  expect(texts).toEqual(whole.choices.map((c) => c.text));
  // Structured output holds in every choice.
  const json = await openai.chat.completions.create({ model: "tiny", messages, max_tokens: 8, n: 2, response_format: { type: "json_object" } });
  expect(json.choices.map((c) => JSON.parse(c.message.content!))).toEqual([{}, {}]);
});

test("n above 8 is a 400 naming n; a failing task fails the whole request with its error", async () => {
  const tooMany = await openai.chat.completions.create({ model: "tiny", messages, max_tokens: 2, n: 9 }).catch((e) => e);
  expect(tooMany).toBeInstanceOf(BadRequestError);
  expect(tooMany).toMatchObject({ status: 400, param: "n" });

  engine.faults = { failAfterTokens: 2 };
  const failed = await openai.chat.completions.create({ model: "tiny", messages, max_tokens: 6, n: 2 }).catch((e) => e);
  expect(failed).toBeInstanceOf(APIError);
  expect(failed.status).toBe(500);
  const streamed = await openai.chat.completions.create({ model: "tiny", messages, max_tokens: 6, n: 2, stream: true });
  const error = await (async () => {
    try {
      for await (const _ of streamed);
    } catch (e) {
      return e;
    }
  })();
  expect(error).toBeInstanceOf(APIError);
});

test("a client that leaves cancels all n tasks", async () => {
  engine.faults = { hangAfterTokens: 1 };
  const ended = tasksEnded(3);
  const stream = await openai.chat.completions.create({ model: "tiny", messages, max_tokens: 5000, n: 3, stream: true });
  const started = new Set<number>();
  for await (const chunk of stream) {
    for (const c of chunk.choices) if (c.delta.content) started.add(c.index);
    if (started.size === 3) break; // every task produced a token; leaving the loop aborts the request
  }
  await ended; // all three canceled, not left hanging on the engine
  engine.faults = {};
  const after = await openai.chat.completions.create({ model: "tiny", messages, max_tokens: 2, n: 4 });
  expect(after.choices).toHaveLength(4); // all four slots free again
});
