// Server-Sent Events for a task's stream: one frame per event, written as the reader pulls.
//
// Backpressure (./pulled-stream.ts): frames wait until the reader pulls. Tokens, `started`,
// `end` and `error` are never dropped; `metrics` frames are dropped (and counted) while more than
// `capacity` frames are waiting. A task has at most max_tokens (≤ 50 000) tokens, so a reader that
// never reads costs at most one short frame per token (~2.5 MB): bounded by the task, not the reader.
//
// A client that goes away unsubscribes, which cancels the task when it was the last watcher.

import type { StreamEvent, StreamSink, Subscription } from "../../contract/index.ts";
import { createPulledStream, type PulledStream } from "./pulled-stream.ts";

const encoder = new TextEncoder();
/** ORCHD_SSE_CHANNEL_CAP default. */
export const SSE_CHANNEL_CAP = 32;

export function sseFrameText(event: StreamEvent): string {
  // Tokens are most frames: written without a generic object walk (same bytes as below).
  // With log probabilities (a task that asked), the generic path.
  if (event.type === "token" && event.data.lp === undefined) return `event: token\ndata: {"t":${JSON.stringify(event.data.t)},"i":${event.data.i}}\n\n`;
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

/** One object per stream: it is the sink too (no closures per stream). */
class Sse implements SseStream, StreamSink {
  readonly body: ReadableStream<Uint8Array>;

  constructor(
    private readonly stream: PulledStream,
    private readonly capacity: number,
    private readonly onDrop: (() => void) | undefined,
  ) {
    this.body = stream.body;
  }

  get sink(): StreamSink {
    return this;
  }

  attach(subscription: Subscription): void {
    this.stream.attach(subscription);
  }

  push(event: StreamEvent): void {
    const stream = this.stream;
    if (stream.ended()) return;
    if (event.type === "metrics" && stream.backlog() >= this.capacity) {
      this.onDrop?.();
      return;
    }
    stream.write(sseFrameText(event), isTerminal(event));
  }
}

export function createSseStream(signal: AbortSignal, options: SseOptions = {}): SseStream {
  return new Sse(createPulledStream(signal), options.capacity ?? SSE_CHANNEL_CAP, options.onDrop);
}
