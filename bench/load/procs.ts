// Child processes of the load bench: each in its own process group (setsid), its stderr (the JSON
// log of control and node) and stdout written to files in the run's temp dir, so counting log
// bytes and grepping log lines costs the measured processes nothing and the bench little.
// Every process started here is stopped by stopAll(): on the normal path, on failure (finally),
// and on SIGINT/SIGTERM; on exit, whatever is left gets SIGKILL to its whole group.
// Also: /proc readers for CPU time (utime+stime) and peak RSS (VmHWM), and the fd limit.

import type { Subprocess } from "bun";
import { openSync, closeSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";

export const ROOT = new URL("../../", import.meta.url).pathname;

export interface Proc {
  name: string;
  pid: number;
  proc: Subprocess;
  errPath: string;
  outPath: string;
  /** Bytes the process has written to stderr (its log) so far. */
  logBytes(): number;
  /** The log text from byte `from` to now. */
  logSince(from: number): string;
  /** Resolves with the first log line (stderr, then stdout) that contains `needle`; rejects on exit or timeout. */
  waitForLine(needle: string | RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

const live = new Set<Proc>();

/** Raise the soft fd limit to the hard one in a shell wrapper, then exec bun (the pid stays bun's). */
function wrap(argv: string[]): string[] {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  return ["sh", "-c", `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec ${quoted}`];
}

export function spawnProc(name: string, argv: string[], opts: { dir: string; cwd?: string; env?: Record<string, string | undefined> }): Proc {
  const errPath = join(opts.dir, `${name}.stderr.log`);
  const outPath = join(opts.dir, `${name}.stdout.log`);
  const proc = Bun.spawn(wrap(argv), {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdin: "ignore",
    stdout: Bun.file(outPath),
    stderr: Bun.file(errPath),
    detached: true, // own session and process group: stop() signals the group
  });
  const size = (p: string) => {
    try {
      return statSync(p).size;
    } catch {
      return 0;
    }
  };
  const readFrom = (p: string, from: number) => {
    const end = size(p);
    if (end <= from) return "";
    const fd = openSync(p, "r");
    try {
      const buf = Buffer.allocUnsafe(end - from);
      const n = readSync(fd, buf, 0, buf.length, from);
      return buf.subarray(0, n).toString("utf8");
    } finally {
      closeSync(fd);
    }
  };
  const p: Proc = {
    name,
    pid: proc.pid,
    proc,
    errPath,
    outPath,
    logBytes: () => size(errPath),
    logSince: (from) => readFrom(errPath, from),
    async waitForLine(needle, timeoutMs = 30_000) {
      const t0 = performance.now();
      const match = (text: string) => text.split("\n").find((l) => (typeof needle === "string" ? l.includes(needle) : needle.test(l)));
      for (;;) {
        const hit = match(readFrom(errPath, 0)) ?? match(readFrom(outPath, 0));
        if (hit) return hit;
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(`${name} exited (${proc.exitCode ?? proc.signalCode}) before logging ${needle}:\n${readFrom(errPath, Math.max(0, size(errPath) - 2000))}`);
        }
        if (performance.now() - t0 > timeoutMs) throw new Error(`${name}: no ${needle} within ${timeoutMs} ms`);
        await Bun.sleep(50);
      }
    },
    async stop() {
      live.delete(p);
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      signalGroup(proc.pid, "SIGTERM");
      const killed = await Promise.race([proc.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
      if (!killed) signalGroup(proc.pid, "SIGKILL");
      await proc.exited;
      signalGroup(proc.pid, "SIGKILL"); // anything the leader left in its group
    },
  };
  live.add(p);
  return p;
}

function signalGroup(pgid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pgid, signal);
  } catch {}
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].reverse().map((p) => p.stop()));
}

let hooked = false;
/** Ctrl-C / SIGTERM stop every child, run `atExit`, then exit; a plain exit SIGKILLs what is left. */
export function installCleanup(atExit: () => void = () => {}): void {
  if (hooked) return;
  hooked = true;
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: stopping ${live.size} process(es)`);
    void stopAll().finally(() => {
      atExit();
      process.exit(130);
    });
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", () => {
    for (const p of live) signalGroup(p.pid, "SIGKILL");
  });
}

/** A port that was free a moment ago (the OS picks it). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

export const CLK_TCK = (() => {
  const r = Bun.spawnSync(["getconf", "CLK_TCK"]);
  const n = Number(r.stdout.toString().trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/** utime + stime of a process (all its threads), in microseconds; NaN once it is gone. */
export function cpuMicros(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
    return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** A field of /proc/<pid>/status in kB (VmHWM = peak RSS, VmRSS = now); NaN once it is gone. */
export function statusKb(pid: number, field: "VmHWM" | "VmRSS"): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

export function fdLimits(): { soft: number; hard: number } {
  const r = Bun.spawnSync(["sh", "-c", "ulimit -Sn; ulimit -Hn"]);
  const [soft, hard] = r.stdout.toString().trim().split("\n").map((x) => (x === "unlimited" ? Infinity : Number(x)));
  return { soft: soft ?? NaN, hard: hard ?? NaN };
}

/** Snapshot CPU of named processes; `diff` gives µs spent by each since. */
export function cpuSnapshot(procs: Record<string, number>): () => Record<string, number> {
  const before = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuMicros(pid)]));
  return () => Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuMicros(pid) - before[k]!]));
}
