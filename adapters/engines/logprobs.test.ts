// Engine servers' log probabilities → the contract's per-token `lp`: every shape read, packed
// deltas split into one token each, values made safe for the link, alternatives bounded.

import { expect, test } from "bun:test";
import { EngineTokenPayload } from "../../contract/link.ts";
import { LOGPROB_FLOOR, llamaProbabilities, openAiLogprobs, tokensWithLogprobs } from "./logprobs.ts";

const entry = (token: string, logprob: unknown, alts: [string, unknown][] = []) => ({ token, logprob, bytes: [], top_logprobs: alts.map(([t, l]) => ({ token: t, logprob: l })) });

test("chat's content shape: alternatives bounded by the task's top, -inf/NaN floored, positive clamped to 0", () => {
  const got = openAiLogprobs({ content: [entry(" a", -0.5, [[" a", -0.5], [" b", -1], [" c", -2]]), entry(" d", null), entry(" e", 1e-9)] }, 2);
  expect(got).toEqual([
    { t: " a", lp: { logprob: -0.5, top: [{ t: " a", logprob: -0.5 }, { t: " b", logprob: -1 }] } },
    { t: " d", lp: { logprob: LOGPROB_FLOOR, top: [] } },
    { t: " e", lp: { logprob: 0, top: [] } },
  ]);
  expect(openAiLogprobs({ content: [entry(" a", -0.5, [[" a", -0.5]])] }, 0)).toEqual([{ t: " a", lp: { logprob: -0.5 } }]);
  expect(openAiLogprobs(null, 2)).toEqual([]);
  expect(openAiLogprobs({ content: "nope" }, 2)).toEqual([]);
});

test("the legacy completions shape: alternatives most likely first", () => {
  const got = openAiLogprobs({ tokens: [" x", " y"], token_logprobs: [-1, -2], top_logprobs: [{ " q": -3, " x": -1 }, null], text_offset: [0, 2] }, 5);
  expect(got).toEqual([
    { t: " x", lp: { logprob: -1, top: [{ t: " x", logprob: -1 }, { t: " q", logprob: -3 }] } },
    { t: " y", lp: { logprob: -2, top: [] } },
  ]);
});

test("llama-server's /completion shapes, current and before mid-2024 (probabilities)", () => {
  expect(llamaProbabilities([{ id: 1, token: "s", bytes: [115], logprob: -1.5, top_logprobs: [{ id: 1, token: "s", logprob: -1.5 }, { id: 2, token: "f", logprob: -2 }] }], 1)).toEqual([
    { t: "s", lp: { logprob: -1.5, top: [{ t: "s", logprob: -1.5 }] } },
  ]);
  const old = llamaProbabilities([{ content: "s", probs: [{ tok_str: "s", prob: 0.5 }, { tok_str: "f", prob: 0.25 }] }], 2);
  expect(old[0]!.lp.logprob).toBeCloseTo(Math.log(0.5), 10);
  expect(old[0]!.lp.top!.map((a) => a.t)).toEqual(["s", "f"]);
});

test("a delta packing several tokens becomes one token each; entries that do not make up the text stay one, with their summed logprob", () => {
  const two = [...tokensWithLogprobs(" a b", openAiLogprobs({ content: [entry(" a", -1), entry(" b", -2)] }, 0), 4, false)];
  expect(two).toEqual([
    { type: "token", t: " a", i: 4, lp: { logprob: -1 }, more: true },
    { type: "token", t: " b", i: 5, lp: { logprob: -2 } },
  ]);
  const odd = [...tokensWithLogprobs("ab", openAiLogprobs({ content: [entry("x", -1), entry("y", -2)] }, 0), 0, true)];
  expect(odd).toEqual([{ type: "token", t: "ab", i: 0, lp: { logprob: -3 }, more: true }]);
  expect([...tokensWithLogprobs("z", [], 1, false)]).toEqual([{ type: "token", t: "z", i: 1 }]);
});

test("whatever a server sends, what goes on the link passes the node gate's schema", () => {
  const hostile = { content: [entry("t", Number.POSITIVE_INFINITY, Array.from({ length: 50 }, (_, k) => ["w".repeat(5000), -k] as [string, unknown]))] };
  for (const ev of tokensWithLogprobs("t", openAiLogprobs(hostile, 20), 0, false)) {
    if (ev.type !== "token") continue;
    expect(EngineTokenPayload.safeParse({ type: "engine-token", t: ev.t, i: ev.i, lp: ev.lp }).success).toBe(true);
    expect(ev.lp!.top).toHaveLength(20);
  }
});
