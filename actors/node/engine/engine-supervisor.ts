// The restart policy of one pool's engine across replica incarnations (docs/contract.md#supervision): it lives in
// the pool subtree, outside the replica, so crash counts, backoff, circuit breakers and the
// storm guard survive the replica's restarts. The pool supervisor asks it for each restart's
// delay (ChildSpec.restartDelay); the replica tells it when an engine started. Every decision
// is logged and counted; the pool shows why it is down and when it comes back.

import type { Logger } from "../../../runtime/index.ts";
import type { NodeMetrics } from "../../../adapters/metrics/index.ts";
import { describeCrash, type CrashReason } from "../../../host/index.ts";
import {
  breakerGauge,
  breakerProbe,
  ERROR_CLASSES,
  crashLabel,
  initialSupervision,
  nextStableCheckAt,
  onCrash,
  onRetryDue,
  onStableCheck,
  onStarted,
  restartsWithin,
  supervisionConfig,
  type EngineSupervisionState,
  type SupervisionConfig,
  type SupervisionEvent,
} from "../supervision/index.ts";

export interface EngineSupervisorOptions {
  nodeId: string;
  poolId: string;
  log: Logger;
  metrics?: NodeMetrics;
  config?: Parameters<typeof supervisionConfig>[0];
  /** Tells the pool why its engine is down and what happens next. */
  note?: (lastError: string) => void;
}

export class EngineSupervisor {
  private state: EngineSupervisionState;
  private readonly config: SupervisionConfig;
  /** The next start ends an open breaker's wait: it is the half-open probe. */
  private probeDue = false;

  constructor(private readonly options: EngineSupervisorOptions) {
    this.config = supervisionConfig(options.config);
    this.state = initialSupervision(this.config);
  }

  /** Delay before restarting after `reason` (ChildSpec.restartDelay). */
  crashed(reason: CrashReason, now: number, random: number, detail?: string): number {
    const { log, poolId, nodeId, metrics } = this.options;
    const labels = { node_id: nodeId, pool_id: poolId };
    metrics?.engineCrashes.inc({ ...labels, crash_reason: crashLabel(reason) });
    const r = onCrash(this.state, reason, now, random, this.config);
    this.state = r.state;
    this.report(r.events);
    metrics?.restartRate.set(labels, restartsWithin(this.state.storm, now, this.config.storm.windowMs).length);
    // A classified crash (OOM, CUDA, signal) says it best; a bare exit is clearer with its detail
    // (e.g. "model not ready: digest mismatch").
    const what = reason.kind === "exit" && detail ? detail : describeCrash(reason);
    if (r.decision.restart) {
      log.warn(`Engine of pool ${poolId} crashed (${what}); restarting in ${r.decision.delayMs} ms`, {
        pool_id: poolId,
        crash_reason: crashLabel(reason),
        crash_count: this.state.crashCount,
        backoff_ms: r.decision.delayMs,
        next_restart_at: new Date(now + r.decision.delayMs).toISOString(),
      });
      this.options.note?.(`${what}; restarting in ${r.decision.delayMs} ms`);
      return r.decision.delayMs;
    }
    // The breaker is open: no restart until it half-opens; that start is its probe.
    const retryAt = r.decision.retryAtMs ?? now + this.config.breaker.timeoutMs;
    this.probeDue = true;
    log.error(`Engine of pool ${poolId} keeps failing (${what}); circuit breaker open, next try at ${new Date(retryAt).toISOString()}`, {
      pool_id: poolId,
      crash_count: this.state.crashCount,
      retry_at: new Date(retryAt).toISOString(),
    });
    this.options.note?.(`${what}; circuit breaker open until ${new Date(retryAt).toISOString()}`);
    return Math.max(0, retryAt - now);
  }

  /** The engine is up. Returns when to check that it stayed up (closes breakers, resets backoff). */
  started(now: number): number | undefined {
    if (this.probeDue) {
      this.probeDue = false;
      const r = onRetryDue(this.state, now, this.config);
      this.state = r.state;
      this.report(r.events);
    }
    // An engine that runs while a breaker is open (a reload or an operator restarted it) is that
    // breaker's probe: half-open now, closed once it stays up, reopened if it crashes.
    for (const cls of ERROR_CLASSES) {
      const b = this.state.breakers[cls];
      if (b.phase !== "open") continue;
      const r = breakerProbe(b);
      this.state = { ...this.state, breakers: { ...this.state.breakers, [cls]: r.state } };
      this.report(r.events.map((e) => ({ type: "breaker" as const, class: cls, from: e.from, to: e.to, failures: e.failures, timeout_ms: r.state.timeoutMs })));
    }
    this.state = onStarted(this.state, now);
    const at = nextStableCheckAt(this.state, this.config);
    return at === null ? undefined : Math.max(0, at - now);
  }

  /** Still up at a stable check; returns the next check's delay, if any. */
  stable(now: number): number | undefined {
    const r = onStableCheck(this.state, now, this.config);
    this.state = r.state;
    this.report(r.events);
    const at = nextStableCheckAt(this.state, this.config);
    return at === null ? undefined : Math.max(0, at - now);
  }

  snapshot(): EngineSupervisionState {
    return this.state;
  }

  private report(events: SupervisionEvent[]): void {
    const { log, poolId, nodeId, metrics } = this.options;
    const labels = { node_id: nodeId, pool_id: poolId };
    for (const e of events) {
      switch (e.type) {
        case "restart_scheduled":
          metrics?.restartScheduled.inc({ ...labels, crash_reason: e.crash_reason });
          metrics?.backoffDelay.observe(labels, e.delay_ms);
          break;
        case "breaker":
          if (e.to === "open") metrics?.breakerOpened.inc({ ...labels, class: e.class });
          metrics?.breakerState.set({ ...labels, class: e.class }, breakerGauge(this.state)[e.class]);
          log.warn(`Circuit breaker (${e.class}) of pool ${poolId}: ${e.from} → ${e.to}`, { pool_id: poolId, old_state: e.from, new_state: e.to, failure_count: e.failures });
          break;
        case "storm":
          metrics?.restartStorms.inc({ ...labels, classification: e.classification });
          log.error(`Restart storm on pool ${poolId}: ${e.restart_count} restarts in ${e.window_ms} ms (${e.classification})`, {
            pool_id: poolId,
            restart_count: e.restart_count,
            classification: e.classification,
            alert: "critical",
          });
          break;
        case "rate_limited":
          log.warn(`Engine restarts of pool ${poolId} are rate limited; waiting ${e.wait_ms} ms`, { pool_id: poolId, restart_count: e.restart_count, time_window: e.window_ms });
          break;
        case "warning":
          log.warn(`Engine of pool ${poolId} restarted ${e.restart_count} times in ${e.window_ms} ms`, { pool_id: poolId, restart_count: e.restart_count, time_window: e.window_ms });
          break;
      }
    }
  }
}
