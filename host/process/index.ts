// Engine child processes: spawn detached, pid files, health wait, group stop, exit classification, reaping.

export {
  spawnEngine,
  freePort,
  waitHealthy,
  HealthWaitError,
  type EngineProcess,
  type ExitStatus,
  type SpawnEngineOptions,
  type WaitHealthyOptions,
} from "./spawn.ts";
export { stopGroup, type StopOptions, type StopResult } from "./stop.ts";
export {
  writePidFile,
  readPidFile,
  removePidFile,
  pidFileMatches,
  processIdentity,
  isAlive,
  groupAlive,
  groupMembers,
  type PidFile,
  type ProcessIdentity,
} from "./pidfile.ts";
export { classifyExit, describeCrash, readLogTail, LOG_TAIL_BYTES, type CrashReason, type ClassifyOptions } from "./classify.ts";
export { reapStale, type ReapReport, type ReapEntry, type ReapOptions } from "./reap.ts";
