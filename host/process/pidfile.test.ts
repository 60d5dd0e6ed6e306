// Pid files: plain numeric first line, identity lines that tie the file to one process.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive, pidFileMatches, processIdentity, readPidFile, removePidFile, writePidFile } from "./pidfile.ts";

const dir = mkdtempSync(join(tmpdir(), "llorch-pidfile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pid files", () => {
  test("the first line is the plain pid; identity follows; nested dirs are created", () => {
    const path = join(dir, "a", "b", "p0.pid");
    writePidFile(path, process.pid, { argv0: "bun" });
    const lines = readFileSync(path, "utf8").trim().split("\n");
    expect(lines[0]).toBe(String(process.pid));
    expect(lines).toContain(`argv0=bun`);
    const file = readPidFile(path)!;
    expect(file.pid).toBe(process.pid);
    expect(file.identity).toEqual(processIdentity(process.pid)!);
    expect(file.extra).toEqual({ argv0: "bun" });
    expect(pidFileMatches(file)).toBe(true);
  });

  test("a different start time (the pid was reused) does not match", () => {
    const path = join(dir, "reused.pid");
    writePidFile(path, process.pid);
    const text = readFileSync(path, "utf8").replace(/start_ticks=\d+/, "start_ticks=1");
    writeFileSync(path, text);
    expect(pidFileMatches(readPidFile(path)!)).toBe(false);
  });

  test("a plain numeric file has no identity and never matches", () => {
    const path = join(dir, "plain.pid");
    writeFileSync(path, `${process.pid}\n`);
    const file = readPidFile(path)!;
    expect(file).toEqual({ pid: process.pid, identity: undefined, extra: {} });
    expect(pidFileMatches(file)).toBe(false);
  });

  test("missing, empty and garbage files read as undefined; remove is idempotent", () => {
    const path = join(dir, "junk.pid");
    expect(readPidFile(join(dir, "none.pid"))).toBeUndefined();
    writeFileSync(path, "");
    expect(readPidFile(path)).toBeUndefined();
    writeFileSync(path, "not-a-pid\n");
    expect(readPidFile(path)).toBeUndefined();
    writeFileSync(path, "1\n"); // init is never one of ours
    expect(readPidFile(path)).toBeUndefined();
    removePidFile(path);
    removePidFile(path);
    expect(readPidFile(path)).toBeUndefined();
  });

  test("isAlive tells a live process from a finished one", async () => {
    expect(isAlive(process.pid)).toBe(true);
    const child = Bun.spawn([process.execPath, "-e", "0"], { stdio: ["ignore", "ignore", "ignore"] });
    await child.exited;
    expect(isAlive(child.pid)).toBe(false);
    expect(processIdentity(child.pid)).toBeUndefined();
  });
});
