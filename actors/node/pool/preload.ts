// Preload of one pool (digest §7.3): bring its engine up and answer once it is ready. Hosted by
// ./operations.ts, whose single operation slot it shares with drain and reload.
//
//   a drained pool:   start its engine → ready ⇒ serving again
//                                      ↘ fails/times out → stop it ⇒ still drained, 503.
//   an engine waiting out a restart delay (backoff, open breaker): started now (the breaker's
//                     probe), then as below.
//   an engine starting: wait for it (bounded by the ready timeout); if it fails, so does the
//                     preload, and the restart policy goes on. Nothing is stopped.
//   a ready pool:     answered at once (already).

import type { ReplyHandle, Timer } from "../../../runtime/index.ts";
import type { PoolPreloadReply } from "../../../contract/link.ts";
import type { Failure, OperationDeps } from "./operations.ts";
import type { PoolMsg, PoolOpResult } from "./protocol.ts";

export interface PreloadOp {
  kind: "preload";
  id: number;
  startedAt: number;
  phase: "starting" | "stopping";
  reply?: ReplyHandle<PoolOpResult<PoolPreloadReply>>;
  timer?: Timer;
  failure?: string;
}

/** A preload of a pool that is not drained: it starts nothing of its own and only waits. */
interface Waiter {
  startedAt: number;
  reply?: ReplyHandle<PoolOpResult<PoolPreloadReply>>;
  timer: Timer;
}

/** What the operations core lends a preload. */
export interface PreloadHost extends OperationDeps {
  readyTimeoutMs: number;
  labels: { node_id: string; pool_id: string };
  /** The drain, reload or preload under way. */
  current(): { kind: string } | undefined;
  /** Makes `op` the operation under way (its id is assigned here). */
  begin(op: PreloadOp): void;
  end(): void;
  nextId(): number;
  /** Starts the replica on `model`, with the ready timeout; answers with op-started. */
  start(op: PreloadOp, model: string): void;
  /** Stops the replica; answers with op-stopped. */
  stop(op: PreloadOp): void;
  busy(kind: string): Failure;
  notAllowed(): Failure;
}

export function preloadOperations(host: PreloadHost) {
  const { ctx, options, state, publish, snapshot, failure, readyTimeoutMs, labels } = host;
  const { poolId, log } = options;
  const waiters = new Map<number, Waiter>();
  const now = () => ctx.clock.now();
  const fields = (extra: Record<string, unknown> = {}) => ({ pool_id: poolId, ...extra });

  const failed = (startedAt: number, message: string): PoolPreloadReply => {
    options.metrics?.preloads.inc({ ...labels, outcome: "failed" });
    return {
      ...failure("preload_failed", { code: "POOL_UNREADY", message: `preload failed: ${message}`, retriable: true, retry_after_ms: 1000 }),
      model: state.model,
      duration_ms: now() - startedAt,
    };
  };
  const ready = (startedAt: number, already: boolean): PoolPreloadReply => {
    options.metrics?.preloads.inc({ ...labels, outcome: already ? "already" : "ready" });
    const duration_ms = already ? 0 : now() - startedAt;
    return { ok: true, node_id: options.nodeId, pool_id: poolId, already, model: state.model, engine_version: state.engineVersion, duration_ms };
  };
  const answer = (reply: ReplyHandle<PoolOpResult<PoolPreloadReply>> | undefined, result: PoolPreloadReply) => reply?.resolve({ reply: result, snapshot: snapshot() });

  const settleWaiters = (result: (w: Waiter) => PoolPreloadReply) => {
    for (const w of waiters.values()) {
      w.timer.cancel();
      answer(w.reply, result(w));
    }
    waiters.clear();
  };

  /** The preloaded engine failed: stop what is left of it; the pool stays drained. */
  const giveUp = (p: PreloadOp, reason: string) => {
    p.failure = reason;
    p.timer?.cancel();
    p.phase = "stopping";
    log.warn(`Preload of pool ${poolId} failed; the pool stays drained`, fields({ model: state.model, reason }));
    host.stop(p);
  };

  return {
    preload(reply?: ReplyHandle<PoolOpResult<PoolPreloadReply>>) {
      if (options.unavailable) return answer(reply, { ...host.notAllowed(), model: state.model });
      const busy = host.current();
      if (busy) return answer(reply, { ...host.busy(busy.kind), model: state.model });
      if (state.engineReady && !state.draining) return answer(reply, ready(0, true));
      if (!state.draining) {
        const id = host.nextId();
        waiters.set(id, { startedAt: now(), reply, timer: ctx.after(readyTimeoutMs, { type: "op-ready-timeout", op: id }) });
        log.info(`Preload of pool ${poolId}: waiting for its engine to be ready`, fields({ last_error: state.lastError }));
        ctx.pipeToSelf(options.slot.restartNow(), (o): PoolMsg => ({ type: "preload-kicked", kicked: o.ok && o.value }));
        return;
      }
      // Drained: the replica is stopped. Start it on the pool's model; the pool serves once ready.
      const p: PreloadOp = { kind: "preload", id: 0, startedAt: now(), phase: "starting", reply };
      host.begin(p);
      log.info(`Preloading pool ${poolId} with ${state.model}`, fields({ model: state.model }));
      host.start(p, state.model);
    },

    kicked(kicked: boolean) {
      if (kicked) log.info(`Preload of pool ${poolId}: started its engine now instead of waiting for the restart delay`, fields());
    },

    /** A drain ends every waiting preload. */
    failWaiters(why: string) {
      settleWaiters((w) => failed(w.startedAt, why));
    },

    /** True/false when the status settled `p` (true: it published), undefined when it did not. */
    replicaStatus(p: PreloadOp | undefined, msg: Extract<PoolMsg, { type: "replica-status" }>): boolean | undefined {
      if (msg.ready) settleWaiters((w) => ready(w.startedAt, false));
      // The engine a preload waited for failed; the restart policy goes on, the preload does not.
      else if (msg.exited && msg.last_error) settleWaiters((w) => failed(w.startedAt, msg.last_error!));
      if (p?.phase !== "starting") return undefined;
      if (msg.ready) {
        host.end();
        p.timer?.cancel();
        state.draining = false;
        state.lastError = undefined;
        log.info(`Pool ${poolId} preloaded`, fields({ model: state.model, engine_version: state.engineVersion, duration_ms: now() - p.startedAt }));
        publish();
        answer(p.reply, ready(p.startedAt, false));
        return true;
      }
      if (msg.exited && msg.last_error) {
        giveUp(p, msg.last_error);
        return false;
      }
      return undefined;
    },

    started(p: PreloadOp, error: string) {
      if (p.phase === "starting") giveUp(p, `the engine could not be started: ${error}`);
    },

    readyTimeout(p: PreloadOp) {
      if (p.phase === "starting") giveUp(p, `health check failed: the engine did not become ready within ${readyTimeoutMs} ms`);
    },

    /** True when `id` was a waiter's timer (it is answered). */
    waiterTimeout(id: number): boolean {
      const w = waiters.get(id);
      if (!w) return false;
      waiters.delete(id);
      const why = state.lastError ? `: ${state.lastError}` : "";
      answer(w.reply, failed(w.startedAt, `health check failed: the engine was not ready within ${readyTimeoutMs} ms${why}`));
      return true;
    },

    stopped(p: PreloadOp) {
      host.end();
      state.engineReady = false;
      state.live = false;
      state.lastError = `preload failed: ${p.failure}`;
      publish();
      answer(p.reply, failed(p.startedAt, p.failure ?? "unknown"));
    },
  };
}
