// A step of the pool operations' state machine under way (./operation-machine.ts): a copy of the
// state to change, the effects so far, and the answers every operation builds.

import { apiError, poolUnavailable, type ErrorEnvelope } from "../../../contract/index.ts";
import type { PoolDrainReply, PoolOpReason } from "../../../contract/link.ts";
import type { LogFields } from "../../../runtime/index.ts";
import type { OperationEffect, PoolOpReply, PoolOpsState, StepEnv } from "./operation-state.ts";

export type Failure = Extract<PoolDrainReply, { ok: false }>;

/** One step under way: a copy of the state to change and the effects so far. */
export class Draft {
  readonly s: PoolOpsState;
  readonly effects: OperationEffect[] = [];
  readonly pool: string;

  constructor(
    state: PoolOpsState,
    readonly env: StepEnv,
  ) {
    this.s = { ...state, op: state.op && { ...state.op }, waiters: [...state.waiters] };
    this.pool = env.config.poolId;
  }

  emit(effect: OperationEffect) {
    this.effects.push(effect);
  }
  log(level: "info" | "warn" | "error", message: string, extra: LogFields = {}) {
    this.emit({ type: "log", level, message, fields: { pool_id: this.pool, ...extra } });
  }
  publish() {
    this.emit({ type: "publish" });
  }
  reply(asker: number, reply: PoolOpReply) {
    this.emit({ type: "reply", asker, reply });
  }
  nextId(): number {
    return ++this.s.seq;
  }
  arm(ms: number): number {
    const timer = this.nextId();
    this.emit({ type: "arm-timer", timer, ms });
    return timer;
  }
  cancel(op: { timer: number | null }) {
    if (op.timer !== null) this.emit({ type: "cancel-timer", timer: op.timer });
    op.timer = null;
  }
  failure(reason: PoolOpReason, error: ErrorEnvelope): Failure {
    return { ok: false, node_id: this.env.config.nodeId, pool_id: this.pool, reason, error: { ...error, pool_id: this.pool } };
  }
  busy(kind: string): Failure {
    return this.failure("busy", poolUnavailable(`pool ${this.pool} is busy: a ${kind} is under way`));
  }
  notAllowed(): Failure {
    const { nodeId, unavailable } = this.env.config;
    return this.failure("unavailable", apiError("POOL_UNAVAILABLE", `pool ${this.pool} may not run on node ${nodeId}: ${unavailable}`, { retriable: false }));
  }
}
