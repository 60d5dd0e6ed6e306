// A RemoteEndpoint binds one Link to a local ActorSystem. It routes incoming envelopes to local
// actors (only under exported path prefixes), answers asks with "$reply" envelopes, and makes
// RemoteRefs whose tell/ask send envelopes over the link. Refs inside payloads travel as markers
// and come out on the far side as refs that route back over the same link.

import {
  AskTimeoutError,
  DEFAULT_ASK_TIMEOUT_MS,
  RuntimeError,
  UnreachableError,
  describe,
  type ActorRef,
  type ActorSystem,
  type AskOptions,
  type Message,
  isRuntimeErrorCode,
  type SendResult,
  type Timer,
} from "../../runtime/index.ts";
import { ReplyPayloadSchema, type Envelope, type ReplyPayload } from "./envelope.ts";
import type { Link } from "./link.ts";
import { fromWire, toWire, WireError, type RefMarker } from "./wire.ts";

/**
 * An error answered by the remote side of an ask. The peer's code is checked: one that is not a
 * runtime error code reads as ACTOR_FAILED, with the peer's word kept in `remoteCode`.
 */
export class RemoteError extends RuntimeError {
  readonly remoteCode: string;
  constructor(code: string, message: string) {
    super(isRuntimeErrorCode(code) ? code : "ACTOR_FAILED", message);
    this.name = "RemoteError";
    this.remoteCode = code.slice(0, 64);
  }
}

interface PendingAsk {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: Timer;
}

/** Why an incoming envelope was refused: a small closed set, fit for a metric label. */
export type RefusalReason = "path" | "type" | "payload" | "node" | "task";

/** The verdict of an `authorize` hook: let the envelope through, or refuse it. */
export type InboundVerdict =
  /** `payload`: what to deliver instead of the envelope's (wire form), e.g. with a field the receiver adds. */
  | { ok: true; payload?: unknown }
  | {
      ok: false;
      code: "INVALID_MESSAGE" | "ACTOR_STOPPED";
      reason: RefusalReason;
      message: string;
      /** Not counted as a refusal: e.g. a late frame for a task that ended (still not delivered). */
      quiet?: boolean;
    };

export interface EndpointOptions {
  /** Local path prefixes the peer may address, e.g. ["control/"]. */
  exports: string[];
  /**
   * Decides each incoming envelope (not replies) after the export check and before its payload is
   * decoded; sees the payload in its wire form. Runs once per envelope: keep it O(1).
   */
  authorize?: (env: Envelope) => InboundVerdict;
  /** Whether the peer may send refs into this system (`{$peerRef}`); default true. */
  peerRefs?: boolean;
  /** Called for each refused envelope (not the quiet ones), with why. */
  onRefused?: (reason: RefusalReason) => void;
}

export class RemoteEndpoint {
  private readonly pending = new Map<string, PendingAsk>();
  private seq = 0;
  private readonly closeHandlers: ((reason: string) => void)[] = [];
  /** Envelopes refused: unexported target, refused by `authorize`, malformed payload (quiet ones aside). */
  rejected = 0;

  constructor(
    readonly system: ActorSystem,
    readonly link: Link,
    private readonly options: EndpointOptions,
  ) {
    link.onEnvelope((env) => this.receive(env));
    link.onClose((reason) => this.closed(reason));
  }

  get id(): string {
    return this.link.id;
  }

  get open(): boolean {
    return this.link.open;
  }

  onClose(handler: (reason: string) => void): void {
    if (!this.link.open) handler("closed");
    else this.closeHandlers.push(handler);
  }

  /** A ref to an actor at `path` on the far side of the link. */
  remoteRef<M extends Message, R = {}>(path: string): RemoteRef<M, R> {
    return new RemoteRef<M, R>(this, path);
  }

  close(reason?: string): void {
    this.link.close(reason);
  }

  sendTell(to: string, msg: Message): SendResult {
    if (!this.link.open) return { ok: false, reason: "unreachable" };
    const payload = this.encode(msg);
    const sent = this.link.send({ v: 1, id: this.nextId(), to, type: msg.type, payload });
    return sent ? { ok: true } : { ok: false, reason: "unreachable" };
  }

  sendAsk(to: string, msg: Message, opts: AskOptions): Promise<unknown> {
    const clock = this.system.clock;
    const now = clock.now();
    const deadline = opts.deadline ?? now + (opts.timeoutMs ?? DEFAULT_ASK_TIMEOUT_MS);
    if (!this.link.open) return Promise.reject(new UnreachableError(to, msg.type, "link closed"));
    let payload: unknown;
    try {
      payload = this.encode(msg);
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.nextId();
    return new Promise((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        this.pending.delete(id);
        reject(new AskTimeoutError(to, msg.type, deadline - now));
      }, deadline - now);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.link.send({ v: 1, id, to, type: msg.type, ask: true, deadline, payload })) {
        this.pending.delete(id);
        timer.cancel();
        reject(new UnreachableError(to, msg.type, "link closed"));
      }
    });
  }

  private nextId(): string {
    return `${this.link.id}:${++this.seq}`;
  }

  private encode(value: unknown): unknown {
    return toWire(value, (ref): RefMarker => {
      if (ref instanceof RemoteRef) {
        if (ref.endpoint === this) return { $peerRef: ref.path };
        throw new Error(`ref to ${ref.path} belongs to another link and cannot be forwarded`);
      }
      return { $ref: ref.path };
    });
  }

  private decode(payload: unknown): unknown {
    return fromWire(payload, (marker) => {
      if ("$ref" in marker) return this.remoteRef(marker.$ref);
      // A ref back into this system obeys the same allow-list as addressing an actor directly.
      if (this.options.peerRefs === false) throw new WireError(marker.$peerRef, "a ref into this system");
      if (!this.exported(marker.$peerRef)) throw new WireError(marker.$peerRef, "a ref to an unexported path");
      return this.system.ref(marker.$peerRef);
    });
  }

  private exported(path: string): boolean {
    return this.options.exports.some((prefix) => path.startsWith(prefix));
  }

  private receive(env: Envelope): void {
    if (env.type === "$reply") return this.receiveReply(env);
    const reply = (payload: ReplyPayload) => {
      if (env.ask) this.link.send({ v: 1, id: this.nextId(), to: env.from ?? "$asker", type: "$reply", replyTo: env.id, payload });
    };
    const refuse = (code: string, reason: RefusalReason, message: string, quiet = false) => {
      if (!quiet) {
        this.rejected++;
        this.options.onRefused?.(reason);
      }
      reply({ ok: false, error: { code, message } });
    };
    if (!this.exported(env.to)) {
      return refuse("ACTOR_STOPPED", "path", `${env.to} is not reachable from this link`);
    }
    let payload = env.payload;
    if (this.options.authorize) {
      const verdict = this.options.authorize(env);
      if (!verdict.ok) return refuse(verdict.code, verdict.reason, verdict.message, verdict.quiet);
      if (verdict.payload !== undefined) payload = verdict.payload;
    }
    let msg: unknown;
    try {
      msg = this.decode(payload);
    } catch (error) {
      return refuse("INVALID_MESSAGE", "payload", describe(error));
    }
    if (typeof msg !== "object" || msg === null || (msg as Message).type !== env.type) {
      return refuse("INVALID_MESSAGE", "payload", `payload of ${env.type} does not carry its type`);
    }
    const ref = this.system.ref<Message, Record<string, unknown>>(env.to);
    if (!env.ask) {
      ref.tell(msg as Message);
      return;
    }
    ref.ask(msg as never, { deadline: env.deadline ?? this.system.clock.now() + DEFAULT_ASK_TIMEOUT_MS }).then(
      (value) => {
        try {
          reply({ ok: true, value: this.encode(value) });
        } catch (error) {
          reply({ ok: false, error: { code: "ACTOR_FAILED", message: describe(error) } });
        }
      },
      (error) => {
        const code = error instanceof RuntimeError ? error.code : "ACTOR_FAILED";
        reply({ ok: false, error: { code, message: describe(error) } });
      },
    );
  }

  private receiveReply(env: Envelope): void {
    const pending = env.replyTo ? this.pending.get(env.replyTo) : undefined;
    if (!pending || !env.replyTo) return;
    this.pending.delete(env.replyTo);
    pending.timer.cancel();
    const parsed = ReplyPayloadSchema.safeParse(env.payload);
    if (!parsed.success) return pending.reject(new RemoteError("ACTOR_FAILED", "malformed reply"));
    if (parsed.data.ok) {
      try {
        pending.resolve(this.decode(parsed.data.value));
      } catch (error) {
        pending.reject(new RemoteError("INVALID_MESSAGE", describe(error)));
      }
    } else {
      pending.reject(new RemoteError(parsed.data.error.code, parsed.data.error.message));
    }
  }

  private closed(reason: string): void {
    for (const [id, p] of this.pending) {
      p.timer.cancel();
      p.reject(new UnreachableError(id, "ask", `link closed: ${reason}`));
    }
    this.pending.clear();
    for (const h of this.closeHandlers.splice(0)) h(reason);
  }
}

export class RemoteRef<M extends Message, R = {}> implements ActorRef<M, R> {
  constructor(
    readonly endpoint: RemoteEndpoint,
    readonly path: string,
  ) {}

  get linkId(): string {
    return this.endpoint.id;
  }

  tell(msg: M): SendResult {
    const result = this.endpoint.sendTell(this.path, msg);
    if (!result.ok) this.endpoint.system.recordDeadLetter(this.path, msg.type, "unreachable");
    return result;
  }

  ask<K extends keyof R & M["type"]>(msg: Extract<M, { type: K }>, opts: AskOptions = {}): Promise<R[K]> {
    return this.endpoint.sendAsk(this.path, msg, opts) as Promise<R[K]>;
  }
}
