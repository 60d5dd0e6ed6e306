// Pid files for engine processes, and the process identity that makes them safe to act on.
//
// The first line is the plain numeric pid, as upstream wrote it, so `kill $(head -1 file)` still works.
// Further `key=value` lines record who the process is: the kernel boot id and the process start
// time (field 22 of /proc/<pid>/stat, clock ticks since boot). A pid is reused by the kernel, the
// pair (boot id, start time) is not, so a stale file never makes us signal an unrelated process.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Who a process is, beyond its (reusable) pid. */
export interface ProcessIdentity {
  bootId: string;
  startTicks: string;
}

export interface PidFile {
  pid: number;
  /** Absent in files written without identity (plain numeric): such a pid is never signalled. */
  identity?: ProcessIdentity;
  /** Free-form lines we wrote, e.g. `argv0=bun`; kept for operators reading the file. */
  extra: Record<string, string>;
}

// comm (field 2) may hold spaces and parens: the fields after it start past the last ")".

function readBootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Identity of a live process, or undefined when it is gone (or /proc is not available). */
export function processIdentity(pid: number): ProcessIdentity | undefined {
  const fields = statFields(pid);
  // fields[0] is field 3 (state); start time is field 22.
  const startTicks = fields?.[19];
  const bootId = readBootId();
  if (!startTicks || !bootId || fields?.[0] === "Z") return undefined;
  return { bootId, startTicks };
}

/** Fields 3.. of /proc/<pid>/stat (state first), or undefined when unreadable. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * True while a process with this pid exists and is not a zombie. Zombies count as gone: they
 * hold nothing, ignore signals, and an orphan's zombie waits for PID 1 to reap it (seconds in
 * some containers).
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  return statFields(pid)?.[0] !== "Z";
}

/** Pids of the live (non-zombie) members of a process group; undefined without /proc. */
export function groupMembers(pgid: number): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return undefined;
  }
  const members: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    // fields[0] is the state (field 3), fields[2] the process group (field 5).
    if (fields && fields[2] === String(pgid) && fields[0] !== "Z") members.push(Number(name));
  }
  return members;
}

/** True while any live member of the group led by `pgid` exists. */
export function groupAlive(pgid: number): boolean {
  const members = groupMembers(pgid);
  if (members) return members.length > 0;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Writes the pid file atomically (temp file + rename), creating its directory. */
export function writePidFile(path: string, pid: number, extra: Record<string, string> = {}): PidFile {
  mkdirSync(dirname(path), { recursive: true });
  const identity = processIdentity(pid);
  const lines = [String(pid)];
  if (identity) lines.push(`boot_id=${identity.bootId}`, `start_ticks=${identity.startTicks}`);
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}=${v.replace(/\n/g, " ")}`);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${lines.join("\n")}\n`);
  renameSync(tmp, path);
  return { pid, identity, extra };
}

/** Parses a pid file; undefined when it is missing or its first line is not a pid. */
export function readPidFile(path: string): PidFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  const [first, ...rest] = text.split("\n");
  const pid = Number(first?.trim());
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  const kv: Record<string, string> = {};
  for (const line of rest) {
    const eq = line.indexOf("=");
    if (eq > 0) kv[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const { boot_id: bootId, start_ticks: startTicks, ...extra } = kv;
  return { pid, identity: bootId && startTicks ? { bootId, startTicks } : undefined, extra };
}

export function removePidFile(path: string): void {
  rmSync(path, { force: true });
}

/**
 * Whether the pid file still names the process that wrote it: alive, and the same boot and
 * start time. A file without identity never matches.
 */
export function pidFileMatches(file: PidFile): boolean {
  if (!file.identity) return false;
  const now = processIdentity(file.pid);
  return now !== undefined && now.bootId === file.identity.bootId && now.startTicks === file.identity.startTicks;
}
