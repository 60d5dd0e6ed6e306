// Starting engine child processes: detached in their own session and process group (so the
// whole tree can be stopped with one signal to -pid), stdout and stderr appended to the pool's
// log file, the pid file written right after spawn and before any health wait (so a node that dies
// while waiting still leaves a pid file to reap).
// Also the health wait (GET /health every 500 ms until 200, 120 s budget) and freePort().

import { closeSync, mkdirSync, openSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { RealClock, type Clock } from "../../runtime/index.ts";
import { writePidFile } from "./pidfile.ts";

export interface ExitStatus {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  /** Signal name (e.g. "SIGKILL"), or null on a normal exit. */
  signal: string | null;
}

export interface SpawnEngineOptions {
  /** Program and arguments, passed exactly. */
  argv: string[];
  /** Merged over this process's environment; an undefined value removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** stdout and stderr are appended here; the directory is created. */
  logPath: string;
  /** Written right after spawn; the directory is created. */
  pidPath: string;
  /** The pool's device mask for CUDA_VISIBLE_DEVICES; "" hides every GPU. Unset: inherited. */
  cudaVisibleDevices?: string;
  /**
   * Kill the engine when this process dies, even by SIGKILL (default true): the engine runs
   * through util-linux `setpriv --pdeathsig KILL` and a parent check (see dieWithParentArgv),
   * which exec it in place (same pid). Without setpriv the engine outlives a killed node until
   * the next node start reaps it.
   */
  dieWithParent?: boolean;
  clock?: Clock;
}

const SETPRIV = Bun.which("setpriv");
const SH = Bun.which("sh");

/** Exit code of an engine that did not start because the process that started it was already gone. */
export const PARENT_GONE_EXIT = 125;

// Runs after setpriv has set the parent-death signal and before the engine is exec'd: a parent
// that died before prctl() would never signal, so a changed getppid() ($PPID) means "gone".
const PARENT_CHECK = `[ "$PPID" = "$1" ] || exit ${PARENT_GONE_EXIT}; shift; exec "$@"`;

/**
 * The argv that ties `argv` to process `parentPid`: `setpriv --pdeathsig KILL` then a shell that
 * checks the parent is still the same one, then the engine exec'd in place (the pid never
 * changes). Without the check, a parent killed in the instant between spawn and prctl() would
 * leave the engine running forever. Undefined when setpriv or sh is missing.
 */
export function dieWithParentArgv(argv: readonly string[], parentPid = process.pid): string[] | undefined {
  if (!SETPRIV || !SH) return undefined;
  return [SETPRIV, "--pdeathsig", "KILL", "--", SH, "-c", PARENT_CHECK, "llorch-engine", String(parentPid), ...argv];
}

export interface EngineProcess {
  /** Process id, also the process group id (the child leads its own group). */
  readonly pid: number;
  readonly argv: readonly string[];
  readonly logPath: string;
  readonly pidPath: string;
  /** Size of the log before this run: classification reads only what this run wrote. */
  readonly logOffset: number;
  /** Clock time at spawn. */
  readonly startedAt: number;
  /** Settles when the child has exited (and been reaped). */
  readonly exited: Promise<ExitStatus>;
  /** The exit status once known. */
  exitStatus(): ExitStatus | undefined;
  /** True once stopGroup was asked to stop it: its exit is not a crash. */
  readonly stopRequested: boolean;
  markStopRequested(): void;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function buildEnv(options: SpawnEngineOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...options.env })) if (v !== undefined) env[k] = v;
  if (options.cudaVisibleDevices !== undefined) env.CUDA_VISIBLE_DEVICES = options.cudaVisibleDevices;
  return env;
}

/**
 * Starts an engine. Throws when the program cannot be started at all (missing binary); the
 * reason is also appended to the log so an operator finds it where the engine output goes.
 */
export function spawnEngine(options: SpawnEngineOptions): EngineProcess {
  const clock = options.clock ?? new RealClock();
  if (options.argv.length === 0) throw new Error("spawnEngine: argv is empty");
  mkdirSync(dirname(options.logPath), { recursive: true });
  const fd = openSync(options.logPath, "a");
  let proc: ReturnType<typeof Bun.spawn>;
  let logOffset: number;
  try {
    writeSync(fd, `# ${new Date(clock.now()).toISOString()} starting: ${options.argv.join(" ")}\n`);
    logOffset = fileSize(options.logPath);
    try {
      // detached: setsid() in the child, so it leads a new session and process group.
      // Checked here: through setpriv a missing program would only show as an exit code 127.
      if (!Bun.which(options.argv[0]!)) throw new Error(`${options.argv[0]} is not an executable program`);
      const argv = (options.dieWithParent !== false && dieWithParentArgv(options.argv)) || [...options.argv];
      proc = Bun.spawn(argv, {
        cwd: options.cwd,
        env: buildEnv(options),
        stdin: "ignore",
        stdout: fd,
        stderr: fd,
        detached: true,
      });
    } catch (error) {
      writeSync(fd, `# spawn failed: ${(error as Error).message}\n`);
      throw new Error(`cannot start engine ${options.argv[0]}: ${(error as Error).message}`);
    }
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
  const child = proc;
  writePidFile(options.pidPath, child.pid, { argv0: options.argv[0]! });

  let status: ExitStatus | undefined;
  let stopRequested = false;
  const exited = child.exited.then((): ExitStatus => {
    const signal = child.signalCode;
    const done: ExitStatus = { code: child.exitCode, signal: signal === null ? null : String(signal) };
    status = done;
    return done;
  });
  return {
    pid: child.pid,
    argv: [...options.argv],
    logPath: options.logPath,
    pidPath: options.pidPath,
    logOffset,
    startedAt: clock.now(),
    exited,
    exitStatus: () => status,
    get stopRequested() {
      return stopRequested;
    },
    markStopRequested: () => void (stopRequested = true),
  };
}

/** A TCP port free right now on `host` (the OS picks it). Another process may take it before use. */
export function freePort(host = "127.0.0.1"): number {
  const listener = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

export interface WaitHealthyOptions {
  /** Between polls; default 500 ms. */
  intervalMs?: number;
  /** Overall budget; default 120 s. */
  timeoutMs?: number;
  /** Budget of one poll, so a hung engine counts as a failed poll. */
  pollTimeoutMs?: number;
  /** The engine's exit ends the wait at once. */
  exited?: Promise<ExitStatus>;
  signal?: AbortSignal;
  clock?: Clock;
}

export class HealthWaitError extends Error {
  constructor(
    readonly reason: "timeout" | "exited" | "aborted",
    message: string,
    readonly exit?: ExitStatus,
  ) {
    super(message);
    this.name = "HealthWaitError";
  }
}

/** Polls `GET <baseUrl>/health` until it answers 200. Returns the number of polls it took. */
export async function waitHealthy(baseUrl: string, options: WaitHealthyOptions = {}): Promise<number> {
  const clock = options.clock ?? new RealClock();
  const interval = options.intervalMs ?? 500;
  const deadline = clock.now() + (options.timeoutMs ?? 120_000);
  const stop = new AbortController();
  const onAbort = () => stop.abort(new HealthWaitError("aborted", "health wait aborted"));
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  options.exited?.then((exit) => {
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    stop.abort(new HealthWaitError("exited", `engine exited (${how}) before it was healthy`, exit));
  });
  const url = `${baseUrl.replace(/\/$/, "")}/health`;
  let last = "no answer";
  try {
    for (let attempt = 1; ; attempt++) {
      if (stop.signal.aborted) throw stop.signal.reason;
      const poll = new AbortController();
      const timer = clock.setTimeout(() => poll.abort(), options.pollTimeoutMs ?? 2000);
      try {
        const res = await fetch(url, { signal: AbortSignal.any([poll.signal, stop.signal]) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status === 200) return attempt;
        last = `HTTP ${res.status}`;
      } catch (error) {
        if (stop.signal.aborted) throw stop.signal.reason;
        last = poll.signal.aborted ? "poll timed out" : (error as Error).message;
      } finally {
        timer.cancel();
      }
      const left = deadline - clock.now();
      if (left <= 0) throw new HealthWaitError("timeout", `health check failed: ${url} not healthy in time (last: ${last})`);
      await clock.sleep(Math.min(interval, left), stop.signal).catch(() => undefined);
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    stop.abort();
  }
}
