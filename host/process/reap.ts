// Reaping engines a previous node agent left behind (it crashed, or was killed with SIGKILL):
// on start, every `*.pid` in the runtime dir is checked. A live process that is provably the one
// the file recorded (same boot, same start time) has its group stopped; a pid the kernel has
// since given to an unrelated process is never signalled.

import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Clock } from "../../runtime/index.ts";
import { isAlive, pidFileMatches, readPidFile, removePidFile } from "./pidfile.ts";
import { stopGroup } from "./stop.ts";

export interface ReapEntry {
  pidPath: string;
  pid?: number;
  reason: string;
}

export interface ReapReport {
  /** Leftover engines whose group was stopped; their pid files are removed. */
  reaped: (ReapEntry & { escalated: boolean })[];
  /** Stale files removed without signalling anything (process gone, pid reused, unreadable). */
  removed: ReapEntry[];
  /** Files left in place: a live process we cannot prove is ours (no identity recorded). */
  skipped: ReapEntry[];
}

export interface ReapOptions {
  graceMs?: number;
  clock?: Clock;
}

/** Checks every `*.pid` directly in `pidDir` (a missing dir reaps nothing). */
export async function reapStale(pidDir: string, options: ReapOptions = {}): Promise<ReapReport> {
  const report: ReapReport = { reaped: [], removed: [], skipped: [] };
  let names: string[];
  try {
    names = readdirSync(pidDir).filter((n) => n.endsWith(".pid")).sort();
  } catch {
    return report;
  }
  for (const name of names) {
    const pidPath = join(pidDir, name);
    const file = readPidFile(pidPath);
    if (!file) {
      removePidFile(pidPath);
      report.removed.push({ pidPath, reason: "no pid in file" });
      continue;
    }
    const { pid } = file;
    if (!isAlive(pid)) {
      removePidFile(pidPath);
      report.removed.push({ pidPath, pid, reason: "process gone" });
    } else if (!file.identity) {
      report.skipped.push({ pidPath, pid, reason: "live process, but the file records no identity to prove it is an engine we started" });
    } else if (!pidFileMatches(file)) {
      removePidFile(pidPath);
      report.removed.push({ pidPath, pid, reason: "pid now belongs to another process" });
    } else {
      const result = await stopGroup(pid, { pidPath, graceMs: options.graceMs, clock: options.clock });
      report.reaped.push({ pidPath, pid, reason: "leftover engine stopped", escalated: result.escalated });
    }
  }
  return report;
}
