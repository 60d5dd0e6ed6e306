// reapStale after an agent crash: a leftover engine is stopped from its pid file alone, while a
// pid that now belongs to an unrelated process (or a file we cannot verify) is never signalled.

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mockEngineArgv } from "../../engines/mock-server/main.ts";
import { isAlive, writePidFile } from "./pidfile.ts";
import { reapStale } from "./reap.ts";
import { freePort, spawnEngine, waitHealthy, type EngineProcess } from "./spawn.ts";
import { stopGroup } from "./stop.ts";

const engines: EngineProcess[] = [];
const others: ReturnType<typeof Bun.spawn>[] = [];
let dir = "";

afterEach(async () => {
  for (const p of engines.splice(0)) await stopGroup(p, { graceMs: 200 });
  for (const o of others.splice(0)) {
    o.kill("SIGKILL");
    await o.exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

/** A live process that is not an engine of ours. */
function bystander() {
  const p = Bun.spawn([process.execPath, "-e", "setInterval(() => {}, 1 << 30)"], { stdio: ["ignore", "ignore", "ignore"] });
  others.push(p);
  return p;
}

describe("reapStale", () => {
  test("stops a leftover engine found through its pid file and removes the file", async () => {
    dir = mkdtempSync(join(tmpdir(), "llorch-reap-"));
    const port = freePort();
    const engine = spawnEngine({ argv: mockEngineArgv(["--port", String(port), "--grandchild"]), logPath: join(dir, "engine-p0.log"), pidPath: join(dir, "p0.pid") });
    engines.push(engine);
    await waitHealthy(`http://127.0.0.1:${port}`, { intervalMs: 25, exited: engine.exited });
    const helper = Number(/helper process pid=(\d+)/.exec(readFileSync(engine.logPath, "utf8"))?.[1]);

    // The agent that started it is gone; a new one only has the runtime dir.
    const report = await reapStale(dir, { graceMs: 2000 });
    expect(report.reaped).toEqual([{ pidPath: join(dir, "p0.pid"), pid: engine.pid, reason: "leftover engine stopped", escalated: false }]);
    expect(report.removed).toEqual([]);
    expect(report.skipped).toEqual([]);
    expect(await engine.exited).toEqual({ code: 0, signal: null });
    expect(() => process.kill(engine.pid, 0)).toThrow();
    expect(isAlive(helper)).toBe(false);
    expect(existsSync(join(dir, "p0.pid"))).toBe(false);
  }, 15_000);

  test("a pid reused by an unrelated process is left alone; only the stale file goes", async () => {
    dir = mkdtempSync(join(tmpdir(), "llorch-reap-"));
    const other = bystander();
    // A file our engine once wrote, whose pid the kernel has since handed to `other`.
    writePidFile(join(dir, "p1.pid"), other.pid);
    const path = join(dir, "p1.pid");
    writeFileSync(path, readFileSync(path, "utf8").replace(/start_ticks=\d+/, "start_ticks=42"));

    const report = await reapStale(dir, { graceMs: 200 });
    expect(report.removed).toEqual([{ pidPath: path, pid: other.pid, reason: "pid now belongs to another process" }]);
    expect(report.reaped).toEqual([]);
    expect(isAlive(other.pid)).toBe(true);
    expect(other.exitCode).toBeNull();
    expect(existsSync(path)).toBe(false);
  });

  test("a live pid in a file without identity is skipped and kept; dead and junk files are removed", async () => {
    dir = mkdtempSync(join(tmpdir(), "llorch-reap-"));
    const other = bystander();
    writeFileSync(join(dir, "legacy.pid"), `${other.pid}\n`);
    const done = Bun.spawn([process.execPath, "-e", "0"], { stdio: ["ignore", "ignore", "ignore"] });
    await done.exited;
    writeFileSync(join(dir, "dead.pid"), `${done.pid}\n`);
    writeFileSync(join(dir, "junk.pid"), "hello\n");
    writeFileSync(join(dir, "engine.json"), "{}"); // not a pid file: untouched
    mkdirSync(join(dir, "engines"));
    writeFileSync(join(dir, "engines", "nested.pid"), `${other.pid}\n`); // only the dir itself is scanned

    const report = await reapStale(dir);
    expect(report.skipped.map((e) => [e.pidPath, e.pid])).toEqual([[join(dir, "legacy.pid"), other.pid]]);
    expect(report.removed.map((e) => [e.pidPath, e.reason])).toEqual([
      [join(dir, "dead.pid"), "process gone"],
      [join(dir, "junk.pid"), "no pid in file"],
    ]);
    expect(report.reaped).toEqual([]);
    expect(isAlive(other.pid)).toBe(true);
    expect(existsSync(join(dir, "legacy.pid"))).toBe(true);
    expect(existsSync(join(dir, "engine.json"))).toBe(true);
    expect(existsSync(join(dir, "engines", "nested.pid"))).toBe(true);
  });

  test("a missing runtime dir reaps nothing", async () => {
    expect(await reapStale(join(tmpdir(), "llorch-no-such-dir-reap"))).toEqual({ reaped: [], removed: [], skipped: [] });
  });
});
