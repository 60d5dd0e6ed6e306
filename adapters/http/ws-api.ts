// The client WebSocket `/v2/ws`: one session per socket, many tasks per session. Owns the frame
// protocol (submit / subscribe / cancel / auth), first-message auth for browsers, per-socket
// limits, and backpressure. Transport-agnostic: server.ts binds it to Bun's sockets, tests to a
// fake. Stream payloads are exactly the SSE ones, tagged with their task_id.

import { z } from "zod";
import type { Clock, Logger } from "../../runtime/index.ts";
import { authEnabled, authorize, identifyToken, type AuthOutcome, type Credentials } from "./auth.ts";
import { apiError, type ControlPort, type ErrorCode, type ErrorEnvelope, HTTP_STATUS, Id, invalidParams, jsonTooDeep, MAX_JSON_DEPTH, notFound, retriableError, retryAfterDefaultMs, type StreamEvent, type StreamSink, type Subscription, TaskRequestV2 } from "../../contract/index.ts";
import { isTerminal } from "./sse.ts";
import type { TraceCarrier } from "../../contract/trace.ts";
import { readCarrier } from "../tracing/index.ts";
import { tracedSubmit } from "./trace.ts";

export const WS_PATH = "/v2/ws";

/** What a session needs from a socket. `send` returns Bun's status: -1 backpressured, 0 dropped. */
export interface WsSocket {
  send(text: string): number;
  close(code: number, reason: string): void;
  bufferedAmount(): number;
}

export interface WsLimits {
  /** Larger incoming frames get INVALID_PARAMS and close 1009. */
  maxFrameBytes: number;
  /** Unfinished tasks (submitted or subscribed) one socket may hold. */
  maxTasks: number;
  /** Above this many bytes buffered in the socket, the client counts as slow. */
  softBufferBytes: number;
  /** Frames we hold for a slow client; past this the socket is closed with 1013. */
  maxBacklogBytes: number;
  authTimeoutMs: number;
}

export const WS_LIMITS: WsLimits = {
  maxFrameBytes: 1024 * 1024,
  maxTasks: 256,
  softBufferBytes: 1024 * 1024,
  maxBacklogBytes: 4 * 1024 * 1024,
  authTimeoutMs: 10_000,
};

export const WS_CLOSE = { policy: 1008, tooBig: 1009, tryAgain: 1013 } as const;

export interface WsAuthSettings {
  /** The legacy token, or it and the named client keys. */
  token?: Credentials;
  authOptional?: boolean;
  remoteLoopback?: boolean;
}

/**
 * Decides an upgrade request. A missing Authorization header is not refused when a token is set:
 * browsers cannot send one, so the session asks for `{type:"auth"}` first ("deferred").
 */
export function upgradeAuth(header: string | null | undefined, settings: WsAuthSettings): AuthOutcome | { ok: "deferred" } {
  const outcome = authorize(header, settings.token, { optional: settings.authOptional, remoteLoopback: settings.remoteLoopback });
  if (!outcome.ok && !header) return { ok: "deferred" };
  return outcome;
}

export interface WsSessionOptions {
  socket: WsSocket;
  port: ControlPort;
  clock: Clock;
  log: Logger;
  /** Set when the upgrade was already authorized; undefined means the first frame must be auth. */
  identity?: string;
  token?: Credentials;
  correlationId: string;
  /** The upgrade request's trace context: the parent of each submit's admission span. */
  trace?: TraceCarrier;
  limits?: Partial<WsLimits>;
  /** Called for each metrics frame dropped because the client reads too slowly. */
  onBackpressureDrop?: () => void;
}

export interface WsSession {
  /** An incoming frame. */
  receive(data: string | ArrayBufferLike | Uint8Array): void;
  /** The socket can take more data (Bun's `drain`). */
  drain(): void;
  /** The socket closed: leaves every task, canceling those nobody else watches (unless detached). */
  closed(code?: number): void;
  /** Unfinished tasks the socket holds. */
  tasks(): number;
}

const TaskId = Id;
const ClientFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auth"), token: z.string().max(8192) }).strict(),
  // traceparent/tracestate: this submit's W3C trace context (else the upgrade request's); a malformed one is ignored.
  z.object({ type: z.literal("submit"), task: TaskRequestV2, detach: z.boolean().optional(), traceparent: z.string().max(256).optional(), tracestate: z.string().max(8192).optional() }).strict(),
  z.object({ type: z.literal("subscribe"), task_id: TaskId, detach: z.boolean().optional() }).strict(),
  z.object({ type: z.literal("cancel"), task_id: TaskId }).strict(),
]);

/** One task this socket streams. `detach`: leaving the socket never cancels it. */
interface Entry {
  id: string;
  detach: boolean;
  subscription?: Subscription;
  done: boolean;
  gone: boolean;
  /** Cancels in flight: the terminal event waits for their ack, so `canceled` comes first. */
  cancelling: number;
  held?: StreamEvent;
}

export function openWsSession(options: WsSessionOptions): WsSession {
  const { socket, port, clock, correlationId } = options;
  const limits = { ...WS_LIMITS, ...options.limits };
  // Without a configured token there is nothing to ask for.
  let identity = options.identity ?? (authEnabled(options.token) ? undefined : "localhost");
  const log = options.log.child({ correlation_id: correlationId });
  const entries = new Map<string, Entry>();
  const outbox: { text: string; bytes: number }[] = [];
  let backlog = 0;
  let blocked = false; // the last send was backpressured; wait for drain()
  let open = true;

  const authTimer = identity === undefined
    ? clock.setTimeout(() => refuse("MISSING_TOKEN", `no auth message within ${limits.authTimeoutMs} ms`), limits.authTimeoutMs)
    : undefined;

  const pressured = () => blocked || outbox.length > 0 || socket.bufferedAmount() > limits.softBufferBytes;

  /** Sends or queues a frame. Only metrics may be dropped, and only while the client is slow. */
  const deliver = (frame: object, droppable = false) => {
    if (!open) return;
    const text = JSON.stringify(frame);
    if (pressured()) {
      if (droppable) return void options.onBackpressureDrop?.();
      const bytes = Buffer.byteLength(text);
      if (backlog + bytes > limits.maxBacklogBytes) {
        log.warn("Closing a WebSocket client that reads too slowly", { identity, backlog_bytes: backlog, tasks: entries.size });
        return shut(WS_CLOSE.tryAgain, "client too slow: backlog limit reached");
      }
      outbox.push({ text, bytes });
      backlog += bytes;
      return;
    }
    const status = socket.send(text);
    if (status === 0) {
      outbox.unshift({ text, bytes: Buffer.byteLength(text) });
      backlog += outbox[0]!.bytes;
    }
    if (status <= 0) blocked = true;
  };

  const sendError = (code: ErrorCode, message: string) => deliver({ type: "error", error: { code, message } });
  const reject = (taskId: string, error: ErrorEnvelope) => deliver({ type: "rejected", task_id: taskId, error: withRetry(error) });

  const shut = (code: number, reason: string) => {
    if (!open) return;
    socket.close(code, reason);
    leaveAll();
  };

  const refuse = (code: "MISSING_TOKEN" | "BAD_TOKEN", message: string, who = "anonymous") => {
    log.warn("Refused a WebSocket client without a valid token", { identity: who, reason: code });
    deliver({ type: "error", error: { code, message } });
    shut(WS_CLOSE.policy, code);
  };

  /**
   * Drops the socket's hold on a task. As with SSE, leaving cancels a task when this socket was
   * its last watcher ("disconnect"), unless the socket asked for `detach` on submit/subscribe.
   */
  const leave = (entry: Entry) => {
    entry.gone = true;
    if (!entry.done) entry.subscription?.unsubscribe({ cancelIfLast: !entry.detach });
  };

  const leaveAll = () => {
    if (!open) return;
    open = false;
    authTimer?.cancel();
    outbox.length = 0;
    backlog = 0;
    for (const entry of entries.values()) leave(entry);
    entries.clear();
  };

  const forget = (entry: Entry) => {
    if (entries.get(entry.id) === entry) entries.delete(entry.id);
  };

  const sinkFor = (entry: Entry): StreamSink => ({
    push(event) {
      if (entry.done || entry.gone) return;
      if (isTerminal(event)) {
        entry.done = true;
        forget(entry);
        if (entry.cancelling > 0) return void (entry.held = event);
      }
      deliver({ type: event.type, task_id: entry.id, data: event.data }, event.type === "metrics");
    },
  });

  const failed = (what: string, taskId: string, error: unknown) => {
    log.error(`WebSocket ${what} failed`, { job_id: taskId, error: error instanceof Error ? error.message : String(error) });
    reject(taskId, retriableError("INTERNAL", `${what} failed`));
  };

  /** Claims a task slot on this socket, or says why not. */
  const claim = (taskId: string, detach: boolean): Entry | undefined => {
    if (entries.has(taskId)) {
      reject(taskId, invalidParams(`task ${taskId} is already streaming on this socket`));
      return undefined;
    }
    if (entries.size >= limits.maxTasks) {
      reject(taskId, apiError("ADMISSION_REJECT", `this socket already holds ${limits.maxTasks} unfinished tasks`, { policy_label: "ws-socket-limit" }));
      return undefined;
    }
    const entry: Entry = { id: taskId, detach, done: false, gone: false, cancelling: 0 };
    entries.set(taskId, entry);
    return entry;
  };

  const stream = async (entry: Entry) => {
    let subscription: Awaited<ReturnType<ControlPort["subscribe"]>>;
    try {
      subscription = await port.subscribe(entry.id, sinkFor(entry));
    } catch (error) {
      forget(entry);
      return failed("subscribe", entry.id, error);
    }
    if (!subscription) {
      forget(entry);
      return reject(entry.id, notFound(`task ${entry.id} not found`));
    }
    if ("refused" in subscription) {
      forget(entry);
      return reject(entry.id, subscription.refused);
    }
    entry.subscription = subscription;
    if (entry.gone) leave(entry); // the socket closed while the subscription was on its way
  };

  const submit = async (task: TaskRequestV2, detach: boolean, parent: TraceCarrier | undefined) => {
    // The id is fixed here so a rejection can name the task the client sent. Every admission
    // rule past the schema is port.submit's, so WS and POST /v2/tasks answer alike.
    const spec = { ...task, task_id: task.task_id ?? crypto.randomUUID() };
    const entry = claim(spec.task_id, detach);
    if (!entry) return;
    let outcome: Awaited<ReturnType<ControlPort["submit"]>>;
    let trace: TraceCarrier | undefined;
    try {
      ({ outcome, trace } = await tracedSubmit(port, spec, { correlationId, identity }, { route: `WS ${WS_PATH}`, parent }));
    } catch (error) {
      forget(entry);
      return failed("submit", spec.task_id, error);
    }
    if (!outcome.ok) {
      forget(entry);
      return reject(spec.task_id, outcome.error);
    }
    if (entry.gone) {
      if (!detach) void port.cancel(spec.task_id, "disconnect").catch(() => {});
      return;
    }
    deliver({ type: "admitted", ...outcome.admission, ...(trace ? { traceparent: trace.traceparent } : {}) });
    await stream(entry);
  };

  const subscribe = (taskId: string, detach: boolean) => {
    const entry = claim(taskId, detach);
    if (entry) void stream(entry);
  };

  const cancel = async (taskId: string) => {
    const entry = entries.get(taskId);
    if (entry) entry.cancelling++;
    try {
      const result = await port.cancel(taskId, "client");
      if (result === "unknown") reject(taskId, notFound(`task ${taskId} not found`));
      else deliver({ type: "canceled", task_id: taskId });
    } catch (error) {
      failed("cancel", taskId, error);
    } finally {
      if (entry && --entry.cancelling === 0 && entry.held) {
        const held = entry.held;
        entry.held = undefined;
        deliver({ type: held.type, task_id: entry.id, data: held.data });
      }
    }
  };

  const authenticate = (frame: unknown) => {
    const given = frame as { type?: unknown; token?: unknown } | undefined;
    if (given?.type !== "auth" || typeof given.token !== "string") {
      return refuse("MISSING_TOKEN", 'the first message must be {"type":"auth","token":…}');
    }
    const who = identifyToken(given.token, options.token);
    if (!who.ok) return refuse("BAD_TOKEN", "invalid token", who.identity);
    identity = who.identity;
    authTimer?.cancel();
    log.debug("WebSocket client authenticated", { identity });
  };

  const handle = (frame: unknown) => {
    if (identity === undefined) return authenticate(frame);
    const parsed = ClientFrame.safeParse(frame);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return sendError("INVALID_PARAMS", `${issue?.path.join(".") || "frame"}: ${issue?.message ?? "invalid"}`);
    }
    const msg = parsed.data;
    switch (msg.type) {
      case "auth":
        return; // already authenticated (by header or an earlier frame)
      case "submit":
        return void submit(msg.task, msg.detach ?? false, (msg.traceparent && readCarrier(msg.traceparent, msg.tracestate)) || options.trace);
      case "subscribe":
        return subscribe(msg.task_id, msg.detach ?? false);
      case "cancel":
        return void cancel(msg.task_id);
    }
  };

  log.debug("WebSocket client connected", { identity: identity ?? "pending" });

  return {
    receive(data) {
      if (!open) return;
      const bytes = typeof data === "string" ? Buffer.byteLength(data) : data.byteLength;
      if (bytes > limits.maxFrameBytes) {
        sendError("INVALID_PARAMS", `frame of ${bytes} bytes exceeds the limit of ${limits.maxFrameBytes}`);
        return shut(WS_CLOSE.tooBig, "frame too large");
      }
      if (typeof data !== "string") {
        if (identity === undefined) return authenticate(undefined);
        return sendError("INVALID_PARAMS", "binary frames are not supported; send JSON text");
      }
      if (jsonTooDeep(data)) {
        if (identity === undefined) return authenticate(undefined);
        return sendError("INVALID_PARAMS", `frame nests deeper than ${MAX_JSON_DEPTH} levels`);
      }
      let frame: unknown;
      try {
        frame = JSON.parse(data);
      } catch {
        if (identity === undefined) return authenticate(undefined);
        return sendError("INVALID_PARAMS", "frame is not valid JSON");
      }
      handle(frame);
    },
    drain() {
      blocked = false;
      while (open && outbox.length > 0) {
        if (socket.bufferedAmount() > limits.softBufferBytes) return void (blocked = true);
        const head = outbox[0]!;
        const status = socket.send(head.text);
        if (status === 0) return void (blocked = true);
        outbox.shift();
        backlog -= head.bytes;
        if (status < 0) return void (blocked = true);
      }
    },
    closed(code) {
      if (open) log.debug("WebSocket client left", { identity, code, tasks: entries.size });
      leaveAll();
    },
    tasks: () => entries.size,
  };
}

/** 429s carry the retry fields the contract requires, as over HTTP. */
function withRetry(error: ErrorEnvelope): ErrorEnvelope {
  if (HTTP_STATUS[error.code] !== 429) return error;
  return { ...error, retriable: error.retriable ?? true, retry_after_ms: error.retry_after_ms ?? retryAfterDefaultMs(), policy_label: error.policy_label ?? "reject" };
}
