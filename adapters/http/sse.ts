// Server-Sent Events for a task's stream: one frame per event, enqueued as it happens so Bun
// flushes it at once. A client that goes away unsubscribes (and, by default, cancels the task).

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

/** `onDisconnect` runs when the client leaves before the stream's last event. */
export function createSseStream(signal: AbortSignal, onDisconnect: () => void): SseStream {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let done = false;
  let subscription: Subscription | undefined;
  const leave = () => {
    if (done) return;
    done = true;
    subscription?.unsubscribe();
    onDisconnect();
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
      if (done) s.unsubscribe();
    },
    sink: {
      push(event) {
        if (done) return;
        controller.enqueue(sseFrame(event));
        if (isTerminal(event)) {
          done = true;
          signal.removeEventListener("abort", leave);
          controller.close();
        }
      },
    },
  };
}
