// Real child processes for end-to-end tests: spawn `bun` entry points, read their JSON log lines,
// wait on a line (an event, not a sleep), and always stop them (process group, SIGKILL fallback).

import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";

export interface LogLine {
  msg?: string;
  event?: string;
  url?: string;
  [k: string]: unknown;
}

export interface Service {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  lines: LogLine[];
  /** Resolves with the first log line (past or future) matching `pred`; rejects if the process exits first. */
  waitFor(pred: (l: LogLine) => boolean, what: string): Promise<LogLine>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number>;
  /**
   * The node's runtime dir (engine logs, `<pool>.pid`), as the process resolves it: --runtime-dir,
   * else POOL_MANAGERD_RUNTIME_DIR, else `.runtime` under the repository. Removed with the temp
   * state dir once the process has exited, so read pid files while it runs.
   */
  runtimeDir: string;
}

const ROOT = new URL("../../", import.meta.url).pathname;

export function spawnService(args: string[], env: Record<string, string | undefined> = {}): Service {
  // State (the control plane's state database, the node's runtime dir) goes to a temp dir removed
  // when the process has exited; a test that restarts a control plane on the same state passes
  // its own ORCHD_STATE_DIR.
  const stateDir = mkdtempSync(join(tmpdir(), "llorch-service-"));
  const runtimeDir = runtimeDirOf(args, env, join(stateDir, "runtime"));
  const proc = Bun.spawn(["bun", ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      LLORCH_LOG_LEVEL: "info",
      // The tests read JSON log lines, whatever the developer's environment says.
      LLORCH_LOG_FORMAT: "json",
      ORCHD_STATE_DIR: join(stateDir, "state"),
      POOL_MANAGERD_RUNTIME_DIR: join(stateDir, "runtime"),
      ...env,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: LogLine[] = [];
  const waiters = new Set<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  const onLine = (text: string) => {
    let line: LogLine;
    try {
      line = JSON.parse(text);
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.pred(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let buf = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      buf += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) onLine(buf);
  };
  const drained = Promise.all([pump(proc.stdout), pump(proc.stderr)]);
  const exited = proc.exited.then(async (code) => {
    await drained;
    rmSync(stateDir, { recursive: true, force: true });
    return code;
  });

  return {
    proc,
    lines,
    exited,
    runtimeDir,
    waitFor(pred, what) {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.add(w);
        void exited.then((code) => {
          if (waiters.delete(w)) {
            const tail = lines.slice(-8).map((l) => JSON.stringify(l)).join("\n");
            reject(new Error(`process exited (${code}) before: ${what}\n${tail}`));
          }
        });
      });
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await proc.exited;
      clearTimeout(timer);
      return proc.exitCode;
    },
  };
}

/** Mirrors actors/node/main.ts: the flag wins, then a non-empty variable, then `.runtime`. */
function runtimeDirOf(args: string[], env: Record<string, string | undefined>, fallback: string): string {
  const at = args.indexOf("--runtime-dir");
  const flag = at >= 0 ? args[at + 1] : args.find((a) => a.startsWith("--runtime-dir="))?.slice("--runtime-dir=".length);
  const dir = flag ?? ("POOL_MANAGERD_RUNTIME_DIR" in env ? env.POOL_MANAGERD_RUNTIME_DIR || ".runtime" : fallback);
  return isAbsolute(dir) ? dir : join(ROOT, dir);
}
