// buildFakeNvml: a clear error without gcc, one build per source and variant, reuse from cache.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFakeNvml, canBuildFakeNvml, FakeNvmlBuildError } from "./build-fake.ts";

const dirs: string[] = [];
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "llorch-fake-nvml-test-"));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test("without gcc on PATH the build fails with an error that says so", () => {
  expect(() => buildFakeNvml(freshDir(), { searchPath: "/nonexistent" })).toThrow(FakeNvmlBuildError);
  expect(() => buildFakeNvml(freshDir(), { searchPath: "/nonexistent" })).toThrow(/gcc is not on PATH/);
});

test.skipIf(!canBuildFakeNvml())("builds once per variant and reuses the cached library, even without gcc", () => {
  const dir = freshDir();
  const plain = buildFakeNvml(dir);
  const mtime = statSync(plain).mtimeMs;
  expect(plain.startsWith(dir)).toBe(true);
  expect(plain).toEndWith(".so");
  expect(buildFakeNvml(dir)).toBe(plain);
  expect(buildFakeNvml(dir, { searchPath: "/nonexistent" })).toBe(plain);
  expect(statSync(plain).mtimeMs).toBe(mtime);
  const v2 = buildFakeNvml(dir, { memoryV2: true });
  expect(v2).not.toBe(plain);
  expect(statSync(v2).size).toBeGreaterThan(0);
});
