// stopGroup on real process groups: SIGTERM honoured, SIGTERM ignored (SIGKILL after the grace),
// grandchildren stopped with their parent, pid file removed, nothing left alive.

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mockEngineArgv } from "../../engines/mock-server/main.ts";
import { classifyExit } from "./classify.ts";
import { groupAlive, isAlive } from "./pidfile.ts";
import { freePort, spawnEngine, waitHealthy, type EngineProcess } from "./spawn.ts";
import { stopGroup } from "./stop.ts";

const started: EngineProcess[] = [];
let dir = "";

afterEach(async () => {
  for (const p of started.splice(0)) await stopGroup(p, { graceMs: 200 });
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

async function startMock(flags: string[]) {
  dir ||= mkdtempSync(join(tmpdir(), "llorch-stop-"));
  const port = freePort();
  const p = spawnEngine({ argv: mockEngineArgv(["--port", String(port), ...flags]), logPath: join(dir, "engine.log"), pidPath: join(dir, "p0.pid") });
  started.push(p);
  await waitHealthy(`http://127.0.0.1:${port}`, { intervalMs: 25, exited: p.exited });
  return p;
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

describe("stopGroup", () => {
  test("SIGTERM stops an engine that honours it, with its grandchild, well inside the grace", async () => {
    const p = await startMock(["--grandchild"]);
    const helper = Number(/helper process pid=(\d+)/.exec(readFileSync(p.logPath, "utf8"))?.[1]);
    expect(isAlive(helper)).toBe(true);
    const result = await stopGroup(p, { graceMs: 3000 });
    expect(result).toMatchObject({ alreadyGone: false, escalated: false, exit: { code: 0, signal: null } });
    expect(result.durationMs).toBeLessThan(3000);
    expect(gone(p.pid)).toBe(true);
    expect(groupAlive(p.pid)).toBe(false);
    expect(isAlive(helper)).toBe(false);
    expect(existsSync(p.pidPath)).toBe(false);
    expect(classifyExit(result.exit!, "", { stopRequested: p.stopRequested })).toEqual({ kind: "graceful" });
  }, 15_000);

  test("an engine that ignores SIGTERM is killed with SIGKILL after the grace period", async () => {
    const p = await startMock(["--ignore-sigterm", "--grandchild"]);
    const helper = Number(/helper process pid=(\d+)/.exec(readFileSync(p.logPath, "utf8"))?.[1]);
    const result = await stopGroup(p, { graceMs: 300 });
    expect(result.escalated).toBe(true);
    expect(result.exit).toEqual({ code: null, signal: "SIGKILL" });
    expect(result.durationMs).toBeGreaterThanOrEqual(300);
    expect(readFileSync(p.logPath, "utf8")).toContain("ignoring SIGTERM");
    expect(gone(p.pid)).toBe(true);
    expect(isAlive(helper)).toBe(false);
    expect(existsSync(p.pidPath)).toBe(false);
  }, 15_000);

  test("by pid alone (no handle): the group is stopped and the given pid file removed", async () => {
    const p = await startMock([]);
    const result = await stopGroup(p.pid, { graceMs: 2000, pidPath: p.pidPath });
    expect(result).toMatchObject({ alreadyGone: false, escalated: false });
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(gone(p.pid)).toBe(true);
    expect(existsSync(p.pidPath)).toBe(false);
  }, 15_000);

  test("an engine that already exited: nothing is signalled, the pid file still goes", async () => {
    dir = mkdtempSync(join(tmpdir(), "llorch-stop-"));
    const p = spawnEngine({ argv: [process.execPath, "-e", "process.exit(3)"], logPath: join(dir, "e.log"), pidPath: join(dir, "p.pid") });
    started.push(p);
    expect(await p.exited).toEqual({ code: 3, signal: null });
    expect(existsSync(p.pidPath)).toBe(true);
    const result = await stopGroup(p, { graceMs: 100 });
    expect(result).toMatchObject({ alreadyGone: true, escalated: false, exit: { code: 3, signal: null } });
    expect(existsSync(p.pidPath)).toBe(false);
  });
});
