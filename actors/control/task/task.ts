// One actor per job: queued → assigned → streaming → ended. Fans events out to subscribers in
// order, replays what a late subscriber missed (a window from memory, the rest from the state
// store, see stream-log.ts), emits `metrics` frames while streaming, enforces the deadline and
// the watchdog (wall/idle), and guarantees that nothing but the final `end` follows an
// acknowledged cancel. At its end it spends the session's budget and has its transcript
// assembled from the stored stream; the last event goes out once that transcript is committed.
//
// The live task is a class (task-live.ts): its state in fields, its handlers on the prototype.
// As one factory of about forty closures it cost about 2.5 KB of heap per open stream in
// closures and their scopes alone; an object costs one allocation and its fields.

import type { ActorFactory, Logger } from "../../../runtime/index.ts";
import type { TaskSpec } from "../../../contract/index.ts";
import type { ControlMetrics } from "../../../adapters/metrics/index.ts";
import type { SchedulerRef } from "../scheduler/protocol.ts";
import type { AdmissionInfo, TaskHooks, TaskMsg, TaskTimeouts } from "./protocol.ts";
import { Switchable } from "./ended.ts";
import { LiveTask } from "./task-live.ts";

export interface TaskOptions {
  scheduler: SchedulerRef;
  log: Logger;
  metrics: ControlMetrics;
  hooks: TaskHooks;
  /** How long an ended task stays around for late subscribers. */
  retentionMs: number;
  timeouts?: TaskTimeouts;
  /** Cadence of `metrics` frames while streaming (0 = off). */
  metricsIntervalMs?: number;
  /** Recent events kept in memory for late subscribers, and events per stored chunk. */
  stream?: { window?: number; chunkEvents?: number };
}

export function taskActor(options: TaskOptions, spec: TaskSpec, admission: AdmissionInfo): ActorFactory<TaskMsg> {
  // Once released, the task hands over to a small behavior and its live state can go (ended.ts).
  return (ctx) => {
    const holder = new Switchable<TaskMsg>();
    holder.current = new LiveTask(ctx, holder, options, spec, admission);
    return holder;
  };
}
