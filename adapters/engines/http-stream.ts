// The HTTP side shared by the engine adapters (llama.cpp, OpenAI-compatible, TGI): clock-driven
// deadlines, the SSE client (open/idle timeouts, cancel, framing), status → error code, and the
// redaction of secrets from anything bound for logs or errors.

import { createParser, type EventSourceMessage } from "eventsource-parser";
import { type Clock, type Timer } from "../../runtime/index.ts";
import { EngineError, type EngineErrorCode, type EngineHealth } from "./types.ts";

export interface HttpEngineTimeouts {
  /** One health probe; a hung server reads as not live. Default 2 s. */
  healthMs?: number;
  /** Props and other plain requests. Default 30 s. */
  requestMs?: number;
  /** Until the stream's response headers arrive. Default 30 s. */
  streamOpenMs?: number;
  /** Longest silence between chunks before DECODE_TIMEOUT; unset: no limit. */
  streamIdleMs?: number;
}

/** Health with the reason a live server is not ready (bad key, model not served, …). */
export interface HttpEngineHealth extends EngineHealth {
  reason?: string;
}

export const REDACTED = "[REDACTED]";

/** Removes secrets, bearer tokens and masked keys (`sk-ab***yz`) from text bound for logs. */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join(REDACTED);
  return out.replace(/(Bearer\s+)[^\s"',]+/gi, `$1${REDACTED}`).replace(/[\w-]*\*{3,}[\w-]*/g, REDACTED);
}

/** `scheme://host[:port]` without user info, for messages. */
export function showUrl(base: string): string {
  try {
    const u = new URL(base);
    return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return "(invalid url)";
  }
}

export interface Deadline {
  signal: AbortSignal;
  cancel(): void;
  fired(): boolean;
}

/** An abort signal that fires after `ms` of the clock; `cancel()` disarms it. */
export function deadline(clock: Clock, ms: number | undefined, what = "the request"): Deadline {
  const c = new AbortController();
  const timer: Timer | undefined = ms === undefined ? undefined : clock.setTimeout(() => c.abort(new Error(`${what} took longer than ${ms} ms`)), ms);
  return { signal: c.signal, cancel: () => timer?.cancel(), fired: () => c.signal.aborted };
}

/** `more` on a data item: another item of the same read follows at once. */
export type SseItem = { kind: "open" } | { kind: "data"; data: string; more: boolean } | { kind: "canceled" } | { kind: "eof" };

export interface SseRequest {
  url: string;
  init: RequestInit;
  clock: Clock;
  /** The caller's cancel; once aborted the stream yields `canceled` and closes the connection. */
  canceled: AbortSignal;
  openTimeoutMs: number;
  idleTimeoutMs?: number;
  /** e.g. "engine at http://…", used in messages. */
  who: string;
  /** The error for a non-2xx answer. */
  refused(res: Response): Promise<EngineError>;
  redact(text: string): string;
}

/**
 * POSTs and yields `open`, then each SSE `data`, then `eof` (or `canceled`). Throws EngineError:
 * POOL_UNAVAILABLE when nobody listens, WORKER_RESET when the connection drops, DECODE_TIMEOUT
 * past a deadline. Closing the connection (return, cancel, error) is what stops the server's
 * generation, so every exit path closes it.
 */
export async function* sseStream(req: SseRequest): AsyncGenerator<SseItem> {
  const connection = new AbortController();
  const opened = deadline(req.clock, req.openTimeoutMs);
  let idle: Deadline | undefined;
  const reason = (e: unknown) => req.redact((e as Error)?.message ?? String(e));
  try {
    let res: Response;
    try {
      res = await fetch(req.url, { ...req.init, signal: AbortSignal.any([req.canceled, opened.signal, connection.signal]) });
    } catch (error) {
      if (req.canceled.aborted) return yield { kind: "canceled" };
      if (opened.fired()) throw new EngineError("DECODE_TIMEOUT", `${req.who} did not start the stream in ${req.openTimeoutMs} ms`);
      const code = (error as { code?: string }).code;
      if (code === "ECONNREFUSED" || code === "ConnectionRefused") throw new EngineError("POOL_UNAVAILABLE", `${req.who} is unreachable: ${reason(error)}`);
      throw new EngineError("WORKER_RESET", `${req.who} dropped the request: ${reason(error)}`);
    } finally {
      opened.cancel();
    }
    if (!res.ok || !res.body) throw await req.refused(res);
    yield { kind: "open" };

    const pending: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (e) => pending.push(e) });
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    const closeOnIdle = () => connection.abort();
    try {
      for (;;) {
        if (req.idleTimeoutMs !== undefined) {
          idle = deadline(req.clock, req.idleTimeoutMs);
          idle.signal.addEventListener("abort", closeOnIdle, { once: true });
        }
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (req.canceled.aborted) return yield { kind: "canceled" };
          if (idle?.fired()) throw new EngineError("DECODE_TIMEOUT", `${req.who} sent nothing for ${req.idleTimeoutMs} ms`);
          throw new EngineError("WORKER_RESET", `connection to ${req.who} lost mid-stream: ${reason(error)}`);
        } finally {
          idle?.cancel();
        }
        if (req.canceled.aborted) return yield { kind: "canceled" };
        if (chunk.done) return yield { kind: "eof" };
        parser.feed(decoder.decode(chunk.value, { stream: true }));
        const events = pending.splice(0);
        for (let k = 0; k < events.length; k++) {
          if (req.canceled.aborted) return yield { kind: "canceled" };
          yield { kind: "data", data: events[k]!.data, more: k < events.length - 1 };
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  } finally {
    idle?.cancel();
    connection.abort();
  }
}

/** The message inside any of the error shapes above, or undefined. */
export function errorMessage(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return typeof body === "string" && body ? body : undefined;
  const b = body as Record<string, any>;
  if (typeof b.error === "string") return b.error;
  if (typeof b.error?.message === "string") return b.error.message;
  if (typeof b.message === "string") return b.message;
  return undefined;
}

/** HTTP status → our code: overload and gateways are the pool's condition; the rest is ours to fix. */
export function codeForStatus(status: number): EngineErrorCode {
  return status === 429 || status === 502 || status === 503 || status === 504 ? "POOL_UNAVAILABLE" : "INTERNAL";
}
