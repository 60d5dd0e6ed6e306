// Server-Sent Events for a task's stream: one frame per event, written as the reader pulls.
//
// Backpressure: Bun pulls from the body stream only as fast as the socket drains (measured: it
// stops pulling after ~4 MB of unread frames). Events wait in `pending` until then. Tokens,
// `started`, `end` and `error` are never dropped; `metrics` frames are dropped (and counted)
// while more than `capacity` frames are waiting. `pending` holds references to the task's own
// event log, so a reader that never reads costs one pointer per token, and a task has at most
// max_tokens (≤ 50 000) tokens: the backlog is bounded by the task, not by the reader.
//
// A client that goes away unsubscribes, which cancels the task when it was the last watcher.

import type { StreamSink, Subscription } from "./port.ts";
import type { StreamEvent } from "./schemas.ts";

const encoder = new TextEncoder();
const OPENING = encoder.encode(": stream open\n\n");
/** ORCHD_SSE_CHANNEL_CAP default. */
export const SSE_CHANNEL_CAP = 32;
/** Frames joined into one chunk per pull when the reader is behind. */
const MAX_FRAMES_PER_CHUNK = 256;

export function sseFrameText(event: StreamEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

export function sseFrame(event: StreamEvent): Uint8Array {
  return encoder.encode(sseFrameText(event));
}

export function isTerminal(event: StreamEvent): boolean {
  return event.type === "end" || event.type === "error";
}

export interface SseStream {
  sink: StreamSink;
  body: ReadableStream<Uint8Array>;
  /** Binds the subscription so a disconnect can release it. */
  attach(subscription: Subscription): void;
}

export interface SseOptions {
  /** Frames that may wait before `metrics` frames are dropped. */
  capacity?: number;
  /** Called once per dropped `metrics` frame (sse_backpressure_drops_total). */
  onDrop?: () => void;
}

export function createSseStream(signal: AbortSignal, options: SseOptions = {}): SseStream {
  const capacity = options.capacity ?? SSE_CHANNEL_CAP;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const pending: StreamEvent[] = [];
  let head = 0; // index of the next pending event
  let terminalQueued = false; // the last event is in `pending` or written
  let closed = false; // the body was closed
  let left = false; // the client went away first
  let subscription: Subscription | undefined;

  const leave = () => {
    if (closed || left) return;
    left = true;
    pending.length = 0;
    head = 0;
    subscription?.unsubscribe({ cancelIfLast: true });
  };

  /** Writes waiting frames while the reader wants more. */
  const flush = () => {
    while (!closed && head < pending.length && (controller.desiredSize ?? 0) > 0) {
      const end = Math.min(pending.length, head + MAX_FRAMES_PER_CHUNK);
      let text = "";
      let last: StreamEvent | undefined;
      for (; head < end; head++) {
        last = pending[head]!;
        text += sseFrameText(last);
      }
      controller.enqueue(encoder.encode(text));
      if (last && isTerminal(last)) {
        closed = true;
        signal.removeEventListener("abort", leave);
        controller.close();
      }
    }
    if (head === pending.length) {
      pending.length = 0;
      head = 0;
    }
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        // A comment line first: Bun sends the response head with the first chunk, and a queued
        // task may not have an event for a while. SSE parsers ignore comments.
        c.enqueue(OPENING);
      },
      pull: flush,
      cancel: leave,
    },
    { highWaterMark: 1 },
  );
  signal.addEventListener("abort", leave, { once: true });
  return {
    body,
    attach(s) {
      subscription = s;
      if (left) s.unsubscribe({ cancelIfLast: true });
    },
    sink: {
      push(event) {
        if (terminalQueued || left) return;
        if (event.type === "metrics" && pending.length - head >= capacity) {
          options.onDrop?.();
          return;
        }
        pending.push(event);
        if (isTerminal(event)) terminalQueued = true;
        flush();
      },
    },
  };
}
