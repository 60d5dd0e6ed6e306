// scripts/build-llama-server.ts as a user runs it: arguments, where the build is cached, a second
// run that finds the binary and builds nothing, and missing tools reported without failing.

import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { llamaCppTag, llamaServerBinary, llamaServerCacheDir, parseBuildArgs } from "../../scripts/build-llama-server.ts";

const SCRIPT = join(import.meta.dir, "..", "..", "scripts", "build-llama-server.ts");
const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "llorch-build-"));
  temps.push(d);
  return d;
}
function run(env: Record<string, string>, args: string[] = []) {
  const r = Bun.spawnSync([process.execPath, SCRIPT, ...args], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("build-llama-server", () => {
  test("arguments: --jobs N (default 1), --force; anything else is an error", () => {
    expect(parseBuildArgs([])).toEqual({ jobs: 1, force: false });
    expect(parseBuildArgs(["--jobs", "2", "--force"])).toEqual({ jobs: 2, force: true });
    expect(parseBuildArgs(["-j=3"])).toEqual({ jobs: 3, force: false });
    expect(() => parseBuildArgs(["--jobs", "0"])).toThrow("--jobs needs a whole number >= 1");
    expect(() => parseBuildArgs(["--bogus"])).toThrow("unknown argument: --bogus");
  });

  test("the cache is per llama.cpp tag, outside the repository", () => {
    const tag = llamaCppTag();
    expect(tag).toMatch(/^[\w.-]+$/);
    expect(llamaServerCacheDir(tag, { LLORCH_CACHE_DIR: "/c" })).toBe(`/c/llamacpp/${tag}`);
    expect(llamaServerCacheDir("b1", { XDG_CACHE_HOME: "/x" })).toBe("/x/llama-orch/llamacpp/b1");
    expect(llamaServerBinary("/c/llamacpp/b1")).toBe("/c/llamacpp/b1/bin/llama-server");
  });

  test("a built binary is found: the path on stdout, nothing built", () => {
    const cache = tempDir();
    const bin = llamaServerBinary(llamaServerCacheDir(llamaCppTag(), { LLORCH_CACHE_DIR: cache }))!;
    mkdirSync(dirname(bin), { recursive: true });
    writeFileSync(bin, "#!/bin/sh\n");
    chmodSync(bin, 0o755);
    const r = run({ LLORCH_CACHE_DIR: cache });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${bin}\n`);
    expect(r.stderr).toContain("already built");
  });

  test("without build tools it says what to install and exits 0 with no path", () => {
    const r = run({ LLORCH_CACHE_DIR: tempDir(), PATH: tempDir() });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("cannot build: missing git, cmake");
    expect(r.stderr).toContain("apt-get install cmake");
  });

  test("a bad argument exits 1 with the reason", () => {
    const r = run({ LLORCH_CACHE_DIR: tempDir() }, ["--jobs", "x"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--jobs needs a whole number");
  });
});
