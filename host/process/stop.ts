// Stopping an engine's whole process group (docs/contract.md#supervision): SIGTERM to -pgid, wait
// up to the grace period, SIGKILL to -pgid, then remove the pid file. With a handle the leader's exit wakes the
// wait at once; other members of the group (an engine's own children) are polled every 200 ms.

import { RealClock, type Clock } from "../../runtime/index.ts";
import { groupAlive, isAlive, removePidFile } from "./pidfile.ts";
import type { EngineProcess, ExitStatus } from "./spawn.ts";

export interface StopOptions {
  /** Between SIGTERM and SIGKILL; default 5 s. */
  graceMs?: number;
  /** Liveness poll for group members other than a handle's leader. */
  pollMs?: number;
  /** Pid file to remove; defaults to the handle's. */
  pidPath?: string;
  clock?: Clock;
}

export interface StopResult {
  /** Nothing of the group was alive when the stop began. */
  alreadyGone: boolean;
  /** SIGKILL was needed. */
  escalated: boolean;
  /** The leader's exit status, when stopped through a handle. */
  exit?: ExitStatus;
  durationMs: number;
}

const KILL_WAIT_MS = 5000;

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    // Not a group leader (a process started some other way): signal it alone.
    try {
      process.kill(pgid, signal);
    } catch (inner) {
      if ((inner as NodeJS.ErrnoException).code !== "ESRCH") throw inner;
    }
  }
}

/**
 * Waits until nothing of the group is alive or `ms` have passed; true when it is gone.
 * The leader's exit promise (when known) wakes the wait early.
 */
async function waitGone(pgid: number, ms: number, pollMs: number, clock: Clock, leader?: Promise<unknown>, leaderDone?: () => boolean): Promise<boolean> {
  const deadline = clock.now() + ms;
  for (;;) {
    const alive = groupAlive(pgid) || isAlive(pgid);
    // The leader counts until it is reaped: a zombie is still in the group.
    if (!alive && (!leaderDone || leaderDone())) return true;
    const left = deadline - clock.now();
    if (left <= 0) return false;
    const nap = new AbortController();
    const sleep = clock.sleep(Math.min(pollMs, left), nap.signal).catch(() => undefined);
    await (leader && leaderDone && !leaderDone() ? Promise.race([sleep, leader]) : sleep);
    nap.abort();
  }
}

/** Stops the process group led by `target` (a pid or a spawnEngine handle) and removes its pid file. */
export async function stopGroup(target: number | EngineProcess, options: StopOptions = {}): Promise<StopResult> {
  const clock = options.clock ?? new RealClock();
  const handle = typeof target === "number" ? undefined : target;
  const pgid = typeof target === "number" ? target : target.pid;
  const pidPath = options.pidPath ?? handle?.pidPath;
  const grace = options.graceMs ?? 5000;
  const poll = options.pollMs ?? 200;
  const started = clock.now();
  handle?.markStopRequested();
  const leaderDone = handle ? () => handle.exitStatus() !== undefined : undefined;

  try {
    const alreadyGone = !(groupAlive(pgid) || isAlive(pgid));
    let escalated = false;
    if (!alreadyGone) {
      signalGroup(pgid, "SIGTERM");
      if (!(await waitGone(pgid, grace, poll, clock, handle?.exited, leaderDone))) {
        escalated = true;
        signalGroup(pgid, "SIGKILL");
        if (!(await waitGone(pgid, KILL_WAIT_MS, poll, clock, handle?.exited, leaderDone))) {
          throw new Error(`process group ${pgid} survived SIGKILL for ${KILL_WAIT_MS} ms`);
        }
      }
    }
    const exit = handle ? await handle.exited : undefined;
    return { alreadyGone, escalated, exit, durationMs: clock.now() - started };
  } finally {
    if (pidPath) removePidFile(pidPath);
  }
}
