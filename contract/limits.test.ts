// Peer-input bounds in the contract: JSON nesting depth, the id alphabet, deadlines.

import { expect, test } from "bun:test";
import { Id, jsonTooDeep, MAX_JSON_DEPTH, MAX_TASK_DEADLINE_MS, TaskRequestV2, valueTooDeep } from "./index.ts";

test("jsonTooDeep counts brackets outside strings only, iteratively", () => {
  const nest = (n: number) => "[".repeat(n) + "]".repeat(n);
  expect(jsonTooDeep(nest(MAX_JSON_DEPTH))).toBe(false);
  expect(jsonTooDeep(nest(MAX_JSON_DEPTH + 1))).toBe(true);
  expect(jsonTooDeep(nest(1_000_000))).toBe(true);
  expect(jsonTooDeep(JSON.stringify({ s: "[".repeat(1000) + '\\"{{{' }))).toBe(false);
  expect(valueTooDeep(JSON.parse(nest(MAX_JSON_DEPTH)))).toBe(false);
  expect(valueTooDeep(JSON.parse(nest(MAX_JSON_DEPTH + 1)))).toBe(true);
});

test("ids refuse NUL, CR/LF, spaces, slashes, lone surrogates and over-long values", () => {
  for (const ok of ["t1", "0b6c4a52-8f3e-4c1a-9d1e-1f2a3b4c5d6e", "pool.a_b:c@d", "x".repeat(128)]) expect(Id.safeParse(ok).success).toBe(true);
  for (const bad of ["", "a\u0000b", "a\r\nb", "a b", "a/b", "\ud800", "x".repeat(129)]) expect(Id.safeParse(bad).success).toBe(false);
});

test("a task's deadline_ms is at most 2^31 - 1; model refs refuse control characters and lone surrogates", () => {
  const task = { model_ref: "hf:org/repo/file.gguf", max_tokens: 1 };
  expect(TaskRequestV2.safeParse({ ...task, deadline_ms: MAX_TASK_DEADLINE_MS }).success).toBe(true);
  expect(TaskRequestV2.safeParse({ ...task, deadline_ms: 2 ** 31 }).success).toBe(false);
  expect(TaskRequestV2.safeParse({ ...task, model_ref: "a\nb" }).success).toBe(false);
  expect(TaskRequestV2.safeParse({ ...task, model_ref: "a\udc00" }).success).toBe(false);
  expect(TaskRequestV2.safeParse({ ...task, task_id: "a\u0000" }).success).toBe(false);
});
