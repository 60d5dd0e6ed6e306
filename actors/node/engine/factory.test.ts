// Pool workloads: what each engine advertises by default, what a pools file may ask for, and the
// llama-server flag an embedding pool needs.

import { expect, test } from "bun:test";
import { PoolConfig, poolWorkloads } from "../config.ts";
import { llamaServerArgv } from "./factory.ts";

const pool = (extra: Record<string, unknown>) => PoolConfig.parse({ id: "p", model: "m", ...extra });

test("default workloads: completion and embedding, except llama-server (needs --embeddings) and TGI", () => {
  expect(poolWorkloads(pool({ engine: "builtin" }))).toEqual(["completion", "embedding"]);
  expect(poolWorkloads(pool({ engine: "mock" }))).toEqual(["completion", "embedding"]);
  expect(poolWorkloads(pool({ engine: "openai", url: "http://x" }))).toEqual(["completion", "embedding"]);
  expect(poolWorkloads(pool({ engine: "llamacpp", binary: "/bin/llama-server" }))).toEqual(["completion"]);
  expect(poolWorkloads(pool({ engine: "tgi", url: "http://x" }))).toEqual(["completion"]);
  expect(poolWorkloads(pool({ engine: "mock", workloads: ["embedding"] }))).toEqual(["embedding"]);
});

test("a pools file may not ask TGI for embeddings, nor one llama-server for both workloads", () => {
  expect(PoolConfig.safeParse({ id: "p", model: "m", engine: "tgi", url: "http://x", workloads: ["embedding"] }).success).toBe(false);
  const both = PoolConfig.safeParse({ id: "p", model: "m", engine: "llamacpp", binary: "/b", workloads: ["completion", "embedding"] });
  expect(both.success).toBe(false);
  expect(both.error?.issues[0]?.path).toEqual(["workloads"]);
  expect(PoolConfig.safeParse({ id: "p", model: "m", engine: "mock", workloads: [] }).success).toBe(false);
});

test("llama-server gets --embeddings only in an embedding pool", () => {
  const chat = llamaServerArgv(pool({ engine: "llamacpp", binary: "/b" }), "127.0.0.1", 8080, "/m.gguf", true);
  expect(chat).not.toContain("--embeddings");
  const embed = llamaServerArgv(pool({ engine: "llamacpp", binary: "/b", workloads: ["embedding"] }), "127.0.0.1", 8080, "/m.gguf", true);
  expect(embed).toContain("--embeddings");
});
