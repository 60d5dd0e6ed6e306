// spawnEngine against real children: own process group, log appended, pid file before the health
// wait, CUDA_VISIBLE_DEVICES from the mask; waitHealthy's success, exit and timeout paths.

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mockEngineArgv } from "../../engines/mock-server/main.ts";
import { classifyExit, readLogTail } from "./classify.ts";
import { isAlive, readPidFile } from "./pidfile.ts";
import { dieWithParentArgv, freePort, HealthWaitError, PARENT_GONE_EXIT, spawnEngine, waitHealthy, type EngineProcess } from "./spawn.ts";
import { stopGroup } from "./stop.ts";

const started: EngineProcess[] = [];
let dir = "";

afterEach(async () => {
  for (const p of started.splice(0)) await stopGroup(p, { graceMs: 500 });
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

function spawn(argv: string[], extra: { cudaVisibleDevices?: string; env?: Record<string, string | undefined> } = {}) {
  dir ||= mkdtempSync(join(tmpdir(), "llorch-spawn-"));
  const p = spawnEngine({ argv, logPath: join(dir, "logs", "engine-p0.log"), pidPath: join(dir, "run", "p0.pid"), ...extra });
  started.push(p);
  return p;
}

describe("spawnEngine", () => {
  test("the child leads its own process group; the pid file exists before any health wait", async () => {
    const port = freePort();
    const p = spawn(mockEngineArgv(["--port", String(port), "--load-ms", "200"]));
    // Synchronously after spawn: the pid file is there, naming the child.
    expect(readPidFile(p.pidPath)?.pid).toBe(p.pid);
    const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
    const [pgrp, session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ").slice(2, 4).map(Number);
    expect(pgrp).toBe(p.pid);
    expect(session).toBe(p.pid);
    const polls = await waitHealthy(`http://127.0.0.1:${port}`, { intervalMs: 25, exited: p.exited });
    expect(polls).toBeGreaterThan(1); // 503 "Loading model" first, then 200
    const stop = await stopGroup(p, { graceMs: 2000 });
    expect(stop.escalated).toBe(false);
    expect(stop.exit).toEqual({ code: 0, signal: null });
    expect(existsSync(p.pidPath)).toBe(false);
    expect(() => process.kill(p.pid, 0)).toThrow();
  }, 15_000);

  test("stdout and stderr are appended to the log, after what was there", async () => {
    dir = mkdtempSync(join(tmpdir(), "llorch-spawn-"));
    writeFileSync(join(dir, "engine.log"), "previous run\n");
    const p = spawnEngine({
      argv: [process.execPath, "-e", "console.log('to stdout'); console.error('to stderr')"],
      logPath: join(dir, "engine.log"),
      pidPath: join(dir, "p0.pid"),
    });
    started.push(p);
    expect(await p.exited).toEqual({ code: 0, signal: null });
    const log = readFileSync(join(dir, "engine.log"), "utf8");
    expect(log.startsWith("previous run\n")).toBe(true);
    expect(log).toContain("to stdout\n");
    expect(log).toContain("to stderr\n");
    expect(readLogTail(p.logPath, 1 << 16, p.logOffset)).not.toContain("previous run");
  });

  test("CUDA_VISIBLE_DEVICES comes from the device mask; an empty mask hides every GPU", async () => {
    const show = [process.execPath, "-e", "console.log('CVD=' + JSON.stringify(process.env.CUDA_VISIBLE_DEVICES) + ' X=' + process.env.X)"];
    const masked = spawn(show, { cudaVisibleDevices: "1,3", env: { X: "y", CUDA_VISIBLE_DEVICES: "0" } });
    await masked.exited;
    const hidden = spawn(show, { cudaVisibleDevices: "" });
    await hidden.exited;
    const log = readFileSync(masked.logPath, "utf8");
    expect(log).toContain(`CVD="1,3" X=y`);
    expect(log).toContain(`CVD="" X=undefined`);
  });

  test("a program that cannot start throws and says so in the log", () => {
    dir = mkdtempSync(join(tmpdir(), "llorch-spawn-"));
    const logPath = join(dir, "engine.log");
    expect(() => spawnEngine({ argv: [join(dir, "no-such-engine")], logPath, pidPath: join(dir, "p0.pid") })).toThrow(/cannot start engine/);
    expect(readFileSync(logPath, "utf8")).toContain("spawn failed");
    expect(existsSync(join(dir, "p0.pid"))).toBe(false);
  });
});

describe("waitHealthy", () => {
  test("an engine that dies while loading ends the wait at once with its exit; the log says why", async () => {
    const p = spawn(mockEngineArgv(["--port", String(freePort()), "--oom"]));
    const error = (await waitHealthy(`http://127.0.0.1:1`, { intervalMs: 25, exited: p.exited }).catch((e) => e)) as HealthWaitError;
    expect(error).toBeInstanceOf(HealthWaitError);
    expect(error.reason).toBe("exited");
    expect(error.exit).toEqual({ code: 1, signal: null });
    expect(classifyExit(error.exit!, readLogTail(p.logPath, 1 << 16, p.logOffset))).toMatchObject({ kind: "out_of_memory", which: "vram" });
  }, 15_000);

  test("a hung /health times out with 'health check failed'", async () => {
    const port = freePort();
    const p = spawn(mockEngineArgv(["--port", String(port), "--hang-health"]));
    const error = (await waitHealthy(`http://127.0.0.1:${port}`, { intervalMs: 25, pollTimeoutMs: 100, timeoutMs: 400, exited: p.exited }).catch((e) => e)) as HealthWaitError;
    expect(error.reason).toBe("timeout");
    expect(error.message).toContain("health check failed");
    expect(isAlive(p.pid)).toBe(true);
  }, 15_000);

  test("an abort signal ends the wait", async () => {
    const abort = new AbortController();
    const wait = waitHealthy(`http://127.0.0.1:${freePort()}`, { intervalMs: 25, signal: abort.signal });
    abort.abort();
    expect(((await wait.catch((e) => e)) as HealthWaitError).reason).toBe("aborted");
  });
});

test("freePort gives a port nobody listens on", async () => {
  const port = freePort();
  expect(port).toBeGreaterThan(0);
  const server = Bun.serve({ port, hostname: "127.0.0.1", fetch: () => new Response("ok") });
  try {
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("ok");
  } finally {
    server.stop(true);
  }
});

describe("dieWithParent", () => {
  test.skipIf(!Bun.which("setpriv"))("an engine dies with the process that started it, even when that one is SIGKILLed", async () => {
    dir = mkdtempSync(join(tmpdir(), "llorch-pdeath-"));
    const spawnPath = join(import.meta.dir, "spawn.ts");
    const script = join(dir, "parent.ts");
    writeFileSync(
      script,
      `import { spawnEngine } from ${JSON.stringify(spawnPath)};
const p = spawnEngine({ argv: ["sleep", "300"], logPath: ${JSON.stringify(join(dir, "e.log"))}, pidPath: ${JSON.stringify(join(dir, "e.pid"))} });
console.log(p.pid);
await new Promise(() => {});`,
    );
    const parent = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "inherit" });
    try {
      const reader = parent.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      const enginePid = Number(first.trim());
      expect(isAlive(enginePid)).toBe(true);
      parent.kill("SIGKILL");
      await parent.exited;
      // The kernel delivers the parent-death signal when the parent is gone; wait on the engine's
      // own exit through its /proc entry rather than on time.
      const deadline = performance.now() + 5000;
      while (isAlive(enginePid) && performance.now() < deadline) await Bun.sleep(5);
      expect(isAlive(enginePid)).toBe(false);
    } finally {
      parent.kill("SIGKILL");
    }
  }, 15_000);

  // The instant between spawn and setpriv's prctl(): a parent that dies there never signals, so
  // the engine must notice its parent changed and not start at all.
  test.skipIf(!dieWithParentArgv(["true"]))("an engine whose starter is already gone does not start; with its starter alive it does", async () => {
    dir = mkdtempSync(join(tmpdir(), "llorch-pdeath-"));
    const marker = join(dir, "ran");
    const engine = ["sh", "-c", `printf '%s|' "$@" > ${JSON.stringify(marker)}`, "engine", "a b", "c"];
    const gone = Bun.spawn(dieWithParentArgv(engine, 1)!, { stdout: "ignore", stderr: "pipe" });
    expect(await gone.exited).toBe(PARENT_GONE_EXIT);
    expect(existsSync(marker)).toBe(false);

    const alive = Bun.spawn(dieWithParentArgv(engine)!, { stdout: "ignore", stderr: "pipe" });
    expect(await alive.exited).toBe(0);
    expect(readFileSync(marker, "utf8")).toBe("a b|c|");
  });
});
