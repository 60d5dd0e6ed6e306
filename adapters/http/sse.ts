// Server-Sent Events for a task's stream: one frame per event, enqueued as it happens so Bun
// flushes it at once. A client that goes away unsubscribes, which cancels the task when it was
// the last one watching.

import type { StreamSink, Subscription } from "./port.ts";
import type { StreamEvent } from "./schemas.ts";

const encoder = new TextEncoder();
const OPENING = encoder.encode(": stream open\n\n");

export function sseFrame(event: StreamEvent): Uint8Array {
  return encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`);
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

export function createSseStream(signal: AbortSignal): SseStream {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let finished = false; // the stream's last event was written
  let left = false; // the client went away first
  let subscription: Subscription | undefined;
  const leave = () => {
    if (finished || left) return;
    left = true;
    subscription?.unsubscribe({ cancelIfLast: true });
  };
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      // A comment line first: Bun sends the response head with the first chunk, and a queued
      // task may not have an event for a while. SSE parsers ignore comments.
      c.enqueue(OPENING);
    },
    cancel: leave,
  });
  signal.addEventListener("abort", leave, { once: true });
  return {
    body,
    attach(s) {
      subscription = s;
      if (left) s.unsubscribe({ cancelIfLast: true });
    },
    sink: {
      push(event) {
        if (finished || left) return;
        controller.enqueue(sseFrame(event));
        if (isTerminal(event)) {
          finished = true;
          signal.removeEventListener("abort", leave);
          controller.close();
        }
      },
    },
  };
}
