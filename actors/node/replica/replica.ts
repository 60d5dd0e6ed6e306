// Replica: drives one engine through its adapter. Streams run aside (the actor keeps answering
// cancel and health); each stream's end comes back as a message. A fatal engine error (also an
// engine that cannot start, e.g. its model file is missing) or three failed health polls crash
// the replica so its supervisor restarts it with backoff.

import { describe, type ActorFactory, type Logger, type Outcome } from "../../../runtime/index.ts";
import { EngineError, type EngineAdapter, type EngineEvent, type EngineHealth } from "../../../adapters/engines/index.ts";
import type { NodeMetrics } from "../../../adapters/metrics/index.ts";
import { describeCrash, type CrashReason } from "../../../host/index.ts";
import { apiError, poolUnavailable, retryAfterDefaultMs, type TokenLogprob, workerReset } from "../../../contract/index.ts";
import type { TaskSinkRef } from "../../../contract/link.ts";
import type { EngineSupervisor } from "../engine/engine-supervisor.ts";
import { isManaged, StartFailure } from "../engine/process-engine.ts";
import type { PoolRef } from "../pool/protocol.ts";
import type { ReplicaMsg } from "./protocol.ts";
import { streamTrace, taskFields, type StreamTrace } from "./task-trace.ts";
import { embedWith } from "./embed.ts";
import { kvPoll } from "./kv-poll.ts";
import type { EmbedReply } from "../../../contract/embeddings.ts";

export interface ReplicaOptions {
  nodeId: string;
  poolId: string;
  replicaId: string;
  pool: PoolRef;
  /** Makes a fresh engine adapter at every (re)start. */
  engine: () => EngineAdapter;
  log: Logger;
  healthIntervalMs: number;
  /** Consecutive failed polls that count as a crash. */
  healthFailures?: number;
  /** The pool's restart policy: told when an engine is up and when it stayed up. */
  supervisor?: EngineSupervisor;
  metrics?: NodeMetrics;
}

/** The engine died; `reason` feeds the restart policy (ChildSpec.restartDelay). */
export class ReplicaCrash extends Error {
  constructor(
    message: string,
    readonly reason: CrashReason,
  ) {
    super(message);
    this.name = "ReplicaCrash";
  }
}

interface Stream {
  task_id: string;
  controller: AbortController;
  sink: TaskSinkRef;
  /** True once the sink heard the stream's last word (end or error). */
  closed: boolean;
  /** Consecutive tokens held while the engine says more follow at once (see `forward`). */
  batch?: { from: number; t: string[]; lp?: TokenLogprob[] };
  /** Its log fields and spans (engine.call, stream). */
  trace: StreamTrace;
}

/** Most tokens sent in one message; a longer burst is cut. */
const MAX_TOKEN_BATCH = 256;

export function replica(options: ReplicaOptions): ActorFactory<ReplicaMsg> {
  return (ctx) => {
    const { log, pool } = options;
    const engine = options.engine();
    /** Embedding batches in flight: aborted when the replica stops. */
    const embeds = new Set<AbortController>();
    const streams = new Map<string, Stream>();
    const limit = options.healthFailures ?? 3;
    let failures = 0;
    /** When the health poll under way began (pool_health_check_duration_seconds). */
    let healthSince: number | undefined;
    /** Why the replica stopped itself, kept for its last status. */
    let stoppedBecause: string | undefined;
    let ready = false;
    let live = false;
    /** The engine's props were read (once per engine start); while `reading`, readiness waits for them. */
    let propsRead = false;
    let reading = false;
    /** The latest word on the engine's health (engine-up, a health poll). */
    let healthy = false;
    let quietReady = false;
    const kv = kvPoll(engine, ctx.clock);

    const status = (isReady: boolean, isLive: boolean, lastError?: string, exited?: boolean) => {
      ready = isReady;
      live = isLive;
      pool.tell({
        type: "replica-status",
        replica_id: options.replicaId,
        ready: isReady,
        live: isLive,
        exited,
        engine_version: engine.version(),
        last_error: lastError,
      });
    };

    /**
     * The engine is healthy: announce it ready. The first time, its props are read first (llama-server
     * n_ctx, vLLM max_model_len, TGI max_total_tokens), so the pool's first ready snapshot already
     * carries the engine's real context and admission never sees the pool ready without it.
     */
    const becomeReady = (quiet = false) => {
      healthy = true;
      quietReady = quiet;
      if (propsRead) return announce();
      if (reading) return;
      reading = true;
      ctx.pipeToSelf(engine.props(), (o): ReplicaMsg => {
        const n = o.ok ? o.value.ctx_max : undefined;
        return { type: "props-result", ...(typeof n === "number" && Number.isInteger(n) && n > 0 ? { ctx_max: n } : {}) };
      });
    };
    const announce = () => {
      if (ready) return;
      // engine-up logged "Engine process is healthy" already.
      if (!quietReady) log.info("Engine is healthy", { pool_id: options.poolId, replica_id: options.replicaId, engine_version: engine.version() });
      status(true, true);
    };

    const healthResult = (o: Outcome<EngineHealth>): ReplicaMsg =>
      o.ok
        ? { type: "health-result", ready: o.value.ready, live: o.value.live, reason: o.value.reason }
        : { type: "health-result", ready: false, live: false, error: describe(o.error), fatal: o.error instanceof EngineError && o.error.fatal };

    /**
     * The sink is about to hear the stream's last word. The pool hears it first: the control
     * plane frees its lease on that word and may dispatch the next task before this stream's
     * slot is released here.
     */
    const closing = (stream: Stream) => {
      stream.closed = true;
      pool.tell({ type: "ending", task_id: stream.task_id });
    };

    /** Sends the tokens held for `stream`, as one message; false when the sink is unreachable. */
    const sendTokens = (stream: Stream): boolean => {
      const b = stream.batch;
      if (!b) return true;
      stream.batch = undefined;
      if (stream.closed) return true;
      if (b.lp) return stream.sink.tell(b.t.length === 1 ? { type: "engine-token", t: b.t[0]!, i: b.from, lp: b.lp[0]! } : { type: "engine-tokens", from: b.from, t: b.t, lp: b.lp }).ok;
      return stream.sink.tell(b.t.length === 1 ? { type: "engine-token", t: b.t[0]!, i: b.from } : { type: "engine-tokens", from: b.from, t: b.t }).ok;
    };

    /**
     * Relays one engine event to the task. Tokens the engine marks `more` (what follows arrived in
     * the same read) are held and go out together with the next ones, as one `engine-tokens`
     * message: one envelope, one serialisation and one delivery for a burst instead of one each.
     * The hold never outlives the burst: the event without `more` that ends it sends it.
     */
    const forward = (stream: Stream, ev: EngineEvent): boolean => {
      // The sink already heard its last word (a drain stopped the stream): nothing more for it.
      if (stream.closed) return true;
      if (ev.type === "token") {
        const b = stream.batch;
        // Log probabilities (a task that asked) travel parallel to the texts; a batch has them for all its tokens or none.
        if (b && ev.i === b.from + b.t.length && (ev.lp === undefined) === (b.lp === undefined)) {
          b.t.push(ev.t);
          if (ev.lp) b.lp!.push(ev.lp);
        } else {
          if (!sendTokens(stream)) return false;
          stream.batch = ev.lp ? { from: ev.i, t: [ev.t], lp: [ev.lp] } : { from: ev.i, t: [ev.t] };
        }
        if (ev.more && stream.batch!.t.length < MAX_TOKEN_BATCH) return true;
        return sendTokens(stream);
      }
      if (!sendTokens(stream)) return false;
      const msg =
        ev.type === "started"
          ? {
              type: "engine-started" as const,
              node_id: options.nodeId,
              pool_id: options.poolId,
              replica_id: options.replicaId,
              engine: engine.engine,
              engine_version: ev.engine_version,
              tokens_in: ev.tokens_in,
            }
          : { type: "engine-end" as const, tokens_out: ev.tokens_out, decode_ms: ev.decode_ms, stop_reason: ev.stop_reason, ...(ev.tokens_in !== undefined ? { tokens_in: ev.tokens_in } : {}), ...(ev.tool_calls ? { tool_calls: ev.tool_calls } : {}) };
      if (ev.type === "end") closing(stream);
      return stream.sink.tell(msg).ok;
    };

    /** Runs one request to its end; resolves with a fatal reason when the engine died. */
    const run = async (stream: Stream, request: Parameters<EngineAdapter["submit"]>[0]): Promise<string | undefined> => {
      try {
        for await (const ev of engine.submit(request, stream.controller.signal)) {
          // Spans at the phase boundaries only: per token, this one flag is read.
          if (ev.type === "token") {
            if (stream.trace.awaitingFirstToken) stream.trace.firstToken();
          } else if (ev.type === "end") stream.trace.end(ev);
          // Nobody listens any more (link down, task gone): stop generating.
          if (!forward(stream, ev)) stream.controller.abort(new Error("sink unreachable"));
          if (stream.controller.signal.aborted && ev.type !== "end") continue;
        }
        sendTokens(stream); // an engine that stopped without an end event
        stream.trace.close(stream.controller.signal.aborted ? "aborted" : "no_end");
        return undefined;
      } catch (error) {
        const e = error instanceof EngineError ? error : new EngineError("INTERNAL", describe(error));
        stream.trace.fail(e.code, e.message);
        const failure = { ...stream.trace.fields, pool_id: options.poolId, replica_id: options.replicaId, error_kind: e.code, fatal: e.fatal };
        if (stream.controller.signal.aborted) log.debug(`Engine request stopped: ${e.message}`, failure);
        else log.warn(`Engine request failed: ${e.message}`, failure);
        if (!stream.closed) {
          sendTokens(stream); // the tokens before the failure, then the failure
          closing(stream);
          stream.sink.tell({
            type: "engine-error",
            error: apiError(e.code, e.message, {
              retriable: e.fatal || e.code !== "INTERNAL",
              retry_after_ms: e.fatal ? retryAfterDefaultMs() : undefined,
              engine: engine.engine,
              pool_id: options.poolId,
            }),
          });
        }
        return e.fatal ? e.message : undefined;
      }
    };

    const pollHealth = () => ctx.pipeToSelf(engine.health(), healthResult);
    /** The engine is up: the restart policy starts counting stability. */
    const upSince = () => {
      const next = options.supervisor?.started(ctx.clock.now());
      if (next !== undefined) ctx.after(next, { type: "stable-check" });
    };

    return {
      init() {
        if (isManaged(engine)) {
          // A process engine: spawn it and wait for its health before polling begins.
          status(false, false, "starting engine");
          ctx.pipeToSelf(engine.start(), (o) =>
            o.ok
              ? { type: "engine-up" }
              : {
                  type: "engine-down",
                  reason: o.error instanceof StartFailure ? o.error.reason : { kind: "exit", code: -1 },
                  message: describe(o.error),
                },
          );
          return;
        }
        pollHealth();
      },
      receive(msg) {
        switch (msg.type) {
          case "submit": {
            if (!ready) {
              log.debug("Refused a task: the replica is not ready", { ...taskFields(msg.task_id, msg.request), pool_id: options.poolId, replica_id: options.replicaId });
              msg.sink.tell({ type: "engine-error", error: poolUnavailable("replica is not ready", { pool_id: options.poolId }) });
              pool.tell({ type: "released", task_id: msg.task_id });
              return;
            }
            const trace = streamTrace(msg.task_id, msg.request, { node_id: options.nodeId, pool_id: options.poolId, replica_id: options.replicaId, engine: engine.engine });
            const stream: Stream = { task_id: msg.task_id, controller: new AbortController(), sink: msg.sink, closed: false, trace };
            streams.set(msg.task_id, stream);
            log.debug("Engine request started", { ...trace.fields, pool_id: options.poolId, replica_id: options.replicaId });
            ctx.pipeToSelf(run(stream, trace.request), (o) => ({
              type: "stream-done",
              task_id: msg.task_id,
              fatal: o.ok ? o.value : describe(o.error),
            }));
            return;
          }
          case "embed": {
            const reply = ctx.takeReply<EmbedReply>();
            if (!ready) return void reply?.resolve({ ok: false, error: poolUnavailable("replica is not ready", { pool_id: options.poolId }) });
            const aborted = new AbortController();
            embeds.add(aborted);
            void embedWith(engine, msg.model, options.poolId, msg.inputs, aborted.signal).then((r) => {
              embeds.delete(aborted);
              reply?.resolve(r);
            });
            return;
          }
          case "cancel": {
            const stream = streams.get(msg.task_id);
            if (!stream) return;
            log.debug("Canceling the engine request", { ...stream.trace.fields, pool_id: options.poolId, replica_id: options.replicaId });
            stream.controller.abort(new Error("canceled"));
            void engine.cancel(msg.task_id).catch(() => undefined);
            return;
          }
          case "stream-done": {
            streams.delete(msg.task_id);
            pool.tell({ type: "released", task_id: msg.task_id });
            // In-process engines die with their stream; process engines are watched by exit.
            if (msg.fatal && !isManaged(engine)) throw new ReplicaCrash(`engine died: ${msg.fatal}`, { kind: "exit", code: 1 });
            return;
          }
          case "abort-streams": {
            let aborted = 0;
            for (const [taskId, stream] of streams) {
              if (stream.closed) continue;
              sendTokens(stream);
              closing(stream);
              aborted++;
              stream.trace.fail(msg.error.code, msg.error.message);
              log.warn(`Stopped a stream: ${msg.error.message}`, { ...stream.trace.fields, pool_id: options.poolId, replica_id: options.replicaId, error_kind: msg.error.code });
              stream.sink.tell({ type: "engine-error", error: msg.error });
              stream.controller.abort(new Error(msg.error.message));
              void engine.cancel(taskId).catch(() => undefined);
            }
            return aborted;
          }
          case "health-tick":
            healthSince = ctx.clock.now();
            ctx.pipeToSelf(engine.health(), healthResult);
            return;
          case "health-result": {
            // An engine that cannot start at all will not start on a later poll either.
            if (msg.fatal) throw new ReplicaCrash(`engine failed: ${msg.error}`, { kind: "exit", code: 1 });
            ctx.after(options.healthIntervalMs, { type: "health-tick" });
            options.metrics?.healthChecks.inc({ node_id: options.nodeId, pool_id: options.poolId, outcome: msg.ready ? "success" : "failure" });
            if (healthSince !== undefined) options.metrics?.healthCheckDuration.observe({ node_id: options.nodeId, pool_id: options.poolId }, ctx.clock.now() - healthSince);
            if (msg.ready) {
              failures = 0;
              const kvRead = kv.due();
              if (kvRead) ctx.pipeToSelf(kvRead, (o): ReplicaMsg => ({ type: "kv-result", ratio: o.ok ? o.value : undefined }));
              if (!ready && !reading) {
                becomeReady();
                if (!isManaged(engine)) upSince();
              }
              return;
            }
            healthy = false;
            failures++;
            if (ready || live !== msg.live) status(false, msg.live, msg.error ?? msg.reason ?? "engine reports not ready");
            if (failures >= limit && (msg.error || isManaged(engine))) {
              throw new ReplicaCrash(`engine failed ${failures} health checks: ${msg.error ?? "not ready"}`, { kind: "health_check_failure" });
            }
            return;
          }
          case "engine-up":
            log.info("Engine process is healthy", { pool_id: options.poolId, replica_id: options.replicaId, engine_version: engine.version(), pid: isManaged(engine) ? engine.pid() : undefined });
            if (isManaged(engine)) {
              ctx.pipeToSelf(engine.exited(), (o) => ({
                type: "engine-down",
                reason: o.ok ? o.value : { kind: "exit", code: -1 },
                message: o.ok ? describeCrash(o.value) : describe(o.error),
              }));
            }
            becomeReady(true);
            upSince();
            ctx.after(options.healthIntervalMs, { type: "health-tick" });
            return;
          case "kv-result":
            kv.done();
            return void pool.tell({ type: "kv-usage", ratio: msg.ratio });
          case "props-result":
            reading = false;
            propsRead = true;
            if (msg.ctx_max !== undefined) pool.tell({ type: "engine-props", ctx_max: msg.ctx_max });
            if (healthy) announce();
            return;
          case "engine-down":
            if (msg.reason.kind === "graceful") {
              // Exit code 0: the engine shut down on purpose; the replica stops for good.
              log.warn("Engine exited on its own with code 0; not restarting it", { pool_id: options.poolId, replica_id: options.replicaId });
              stoppedBecause = "engine exited on its own (code 0); not restarted";
              status(false, false, stoppedBecause);
              ctx.stopSelf();
              return;
            }
            throw new ReplicaCrash(msg.message, msg.reason);
          case "stable-check": {
            const next = options.supervisor?.stable(ctx.clock.now());
            // Never a hot loop: a check due "now" again waits a second.
            if (next !== undefined) ctx.after(Math.max(next, 1000), { type: "stable-check" });
            return;
          }
        }
      },
      async terminate(reason) {
        const why = reason.kind === "failed" ? describe(reason.error) : "replica stopped";
        for (const [, stream] of streams) {
          stream.controller.abort(new Error(why));
          if (!stream.closed) {
            sendTokens(stream);
            stream.closed = true;
            stream.sink.tell({ type: "engine-error", error: workerReset(`engine replica reset: ${why}`, { pool_id: options.poolId }) });
          }
        }
        streams.clear();
        for (const e of embeds) e.abort(new Error(why));
        status(false, false, reason.kind === "failed" ? why : stoppedBecause, true);
        await engine.close();
      },
    };
  };
}
