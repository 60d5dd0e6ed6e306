// Refs: the only way to talk to an actor. Local and remote refs share this interface, so an
// actor does not care where its peer lives.

export interface Message {
  readonly type: string;
}

/** Why a tell was not accepted. */
export type SendResult =
  | { ok: true }
  | { ok: false; reason: "full" | "stopped" | "unreachable" };

export interface AskOptions {
  /** Relative timeout; default 5000 ms. Ignored when `deadline` is given. */
  timeoutMs?: number;
  /** Absolute deadline on the system clock; travels with the message. */
  deadline?: number;
}

export const DEFAULT_ASK_TIMEOUT_MS = 5000;

/**
 * `R` maps message types to reply types: `ask` of a `{type:"status"}` message resolves with
 * `R["status"]`. Messages not in `R` are tell-only.
 */
export interface ActorRef<M extends Message, R = {}> {
  readonly path: string;
  tell(msg: M): SendResult;
  ask<K extends keyof R & M["type"]>(msg: Extract<M, { type: K }>, opts?: AskOptions): Promise<R[K]>;
}

/** Marker for values that serialize as refs across a transport. */
export function isActorRef(v: unknown): v is ActorRef<Message, unknown> {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as { path?: unknown }).path === "string" &&
    typeof (v as { tell?: unknown }).tell === "function" &&
    typeof (v as { ask?: unknown }).ask === "function"
  );
}

/** A reply slot for the message being handled; taken by handlers that answer later. */
export interface ReplyHandle<T = unknown> {
  readonly deadline: number;
  resolve(value: T): void;
  reject(error: unknown): void;
  readonly settled: boolean;
}
