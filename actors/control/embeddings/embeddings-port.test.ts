// The embeddings port's choices and its distrust of nodes: which pool it asks (ready, embedding,
// most free slots), the order of batches, and every reply that cannot be right.

import { expect, test } from "bun:test";
import { encodeVector, type PoolView } from "../../../contract/index.ts";
import type { PoolHolder, RegistryRef } from "../registry/protocol.ts";
import { createEmbeddingsPort } from "./embeddings-port.ts";

type Ask = (msg: any) => Promise<unknown>;

function holder(node: string, pool: Partial<PoolView>, ask: Ask, online = true): PoolHolder {
  const view: PoolView = { pool_id: "p", ready: true, draining: false, engine: "mock", slots_total: 2, slots_free: 2, models_available: ["m"], workloads: ["completion", "embedding"], ...pool };
  return { node_id: node, online, pool: view, agent: { ask } as any };
}

const registryOf = (holders: PoolHolder[]) => ({ ask: async () => holders }) as unknown as RegistryRef;
const echo: Ask = async (msg) => ({ ok: true, vectors: msg.inputs.map((s: string) => encodeVector([s.length, 1])), tokens_in: msg.inputs.length });

test("batches of 16 go to the ready embedding pool with the most free slots, in order", async () => {
  const asked: string[] = [];
  const track = (name: string): Ask => async (msg) => (asked.push(`${name}:${msg.inputs.length}`), echo(msg));
  const port = createEmbeddingsPort(
    registryOf([
      holder("a", { slots_free: 1 }, track("a")),
      holder("b", { slots_free: 2 }, track("b")),
      holder("c", { slots_free: 5, ready: false }, track("c")),
      holder("d", { slots_free: 9, workloads: ["completion"] }, track("d")),
      holder("e", { slots_free: 9 }, track("e"), false),
    ]),
  );
  const inputs = Array.from({ length: 35 }, (_, i) => "x".repeat(i + 1));
  const got = await port.embed({ model: "m", inputs });
  expect(got.ok).toBe(true);
  if (!got.ok) return;
  expect(asked).toEqual(["b:16", "b:16", "b:3"]);
  expect(got.vectors.map((v) => v[0])).toEqual(inputs.map((s) => s.length));
  expect(got.prompt_tokens).toBe(35);
  expect(got.node_id).toBe("b");
});

test("no pool, no embedding pool, no ready one: MODEL_NOT_AVAILABLE, INVALID_PARAMS, POOL_UNAVAILABLE", async () => {
  const code = async (holders: PoolHolder[]) => {
    const r = await createEmbeddingsPort(registryOf(holders)).embed({ model: "m", inputs: ["a"] });
    return r.ok ? "ok" : r.error.code;
  };
  expect(await code([])).toBe("MODEL_NOT_AVAILABLE");
  expect(await code([holder("a", { workloads: undefined }, echo)])).toBe("INVALID_PARAMS");
  expect(await code([holder("a", { draining: true }, echo)])).toBe("POOL_UNAVAILABLE");
});

test("a node's malformed, short, uneven or failed reply never reaches the client as vectors", async () => {
  const replies: unknown[] = [
    { ok: true, vectors: "nope", tokens_in: 1 },
    { ok: true, vectors: [], tokens_in: 1 },
    { ok: true, vectors: ["abc"], tokens_in: 1 }, // not whole float32s
    { ok: true, vectors: [encodeVector([Number.NaN])], tokens_in: 1 },
    { ok: true, vectors: [encodeVector([1]), encodeVector([1, 2])], tokens_in: 2 },
    { ok: true, vectors: [encodeVector([1])], tokens_in: -1 },
    { surprise: true },
  ];
  for (const reply of replies) {
    const r = await createEmbeddingsPort(registryOf([holder("a", {}, async () => reply)])).embed({ model: "m", inputs: ["a", "b"].slice(0, 2) });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe("INTERNAL");
  }
  const refused = await createEmbeddingsPort(registryOf([holder("a", {}, async () => ({ ok: false, error: { code: "INVALID_PARAMS", message: "too long" } }))])).embed({ model: "m", inputs: ["a"] });
  expect(refused).toMatchObject({ ok: false, error: { code: "INVALID_PARAMS", message: "too long" } });
  const silent = await createEmbeddingsPort(registryOf([holder("a", {}, async () => Promise.reject(new Error("ask timed out")))])).embed({ model: "m", inputs: ["a"] });
  expect(silent).toMatchObject({ ok: false, error: { code: "POOL_UNAVAILABLE" } });
});
