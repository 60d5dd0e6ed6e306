// A response body written at the reader's pace: Bun pulls from it only as fast as the socket
// drains (measured: it stops pulling after ~4 MB of unread data), and pieces wait in `pending`
// until then. Shared by the SSE stream of a task and the OpenAI `data:` stream. A comment line
// goes first, because Bun sends the response head only with the first chunk and a queued task may
// have nothing to say for a while (SSE parsers ignore comments). A client that goes away (abort,
// or the body canceled) releases its subscription, which cancels the task if it watched alone.
//
// One object per stream: it is the body's underlying source (start, pull, cancel) and the abort
// listener (handleEvent), with its methods on the prototype, so an open stream holds no closures
// of its own. Writes of one turn are flushed together by one shared microtask.

import type { Subscription } from "../../contract/index.ts";

const encoder = new TextEncoder();
const OPENING = encoder.encode(": stream open\n\n");
/** Pieces joined into one chunk per pull when the reader is behind. */
const MAX_PIECES_PER_CHUNK = 256;

export interface PulledStream {
  body: ReadableStream<Uint8Array>;
  /** Queues text; `last` closes the body once it is written. Ignored after the last, or once the client left. */
  write(text: string, last?: boolean): void;
  /** Pieces waiting for the reader. */
  backlog(): number;
  /** True once the last piece is queued or the client left: nothing more will be written. */
  ended(): boolean;
  /** Binds the subscription so a disconnect can release it. */
  attach(subscription: Subscription): void;
}

/** Streams written to in this turn, flushed by one microtask. */
let toFlush: Pulled[] = [];

function flushWritten(): void {
  const streams = toFlush;
  toFlush = [];
  for (let k = 0; k < streams.length; k++) {
    const s = streams[k]!;
    s.flushQueued = false;
    try {
      s.flush();
    } catch (error) {
      // As if thrown by its own microtask: the other streams are still flushed.
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

class Pulled implements PulledStream {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private pending: string[] = [];
  /** Index of the next pending piece. */
  private head = 0;
  private lastQueued = false;
  private closed = false;
  private left = false;
  private subscription: Subscription | undefined = undefined;
  flushQueued = false;

  constructor(private readonly signal: AbortSignal) {
    this.body = new ReadableStream<Uint8Array>(this, { highWaterMark: 1 });
    signal.addEventListener("abort", this, { once: true });
  }

  // The body's underlying source.
  start(c: ReadableStreamDefaultController<Uint8Array>): void {
    this.controller = c;
    c.enqueue(OPENING);
  }

  pull(): void {
    this.flush();
  }

  cancel(): void {
    this.leave();
  }

  /** The abort listener. */
  handleEvent(): void {
    this.leave();
  }

  private leave(): void {
    if (this.closed || this.left) return;
    this.left = true;
    this.pending.length = 0;
    this.head = 0;
    this.subscription?.unsubscribe({ cancelIfLast: true });
  }

  /** Writes waiting pieces while the reader wants more. Re-entrant: enqueue may call pull. */
  flush(): void {
    const pending = this.pending;
    while (!this.closed && !this.left && this.head < pending.length && (this.controller.desiredSize ?? 0) > 0) {
      const end = Math.min(pending.length, this.head + MAX_PIECES_PER_CHUNK);
      let text = "";
      let head = this.head;
      for (; head < end; head++) text += pending[head];
      this.head = head;
      const done = this.lastQueued && head === pending.length;
      if (head === pending.length) {
        pending.length = 0;
        this.head = 0;
      }
      this.controller.enqueue(encoder.encode(text));
      if (done && !this.closed) {
        this.closed = true;
        this.signal.removeEventListener("abort", this);
        this.controller.close();
      }
    }
  }

  write(text: string, last = false): void {
    if (this.lastQueued || this.left) return;
    this.pending.push(text);
    if (last) this.lastQueued = true;
    // Pieces written in the same turn (the tokens of one burst) go out as one chunk: one
    // encode and one enqueue instead of one per token.
    if (this.flushQueued) return;
    this.flushQueued = true;
    if (toFlush.length === 0) queueMicrotask(flushWritten);
    toFlush.push(this);
  }

  backlog(): number {
    return this.pending.length - this.head;
  }

  ended(): boolean {
    return this.lastQueued || this.left;
  }

  attach(s: Subscription): void {
    this.subscription = s;
    if (this.left) s.unsubscribe({ cancelIfLast: true });
  }
}

export function createPulledStream(signal: AbortSignal): PulledStream {
  return new Pulled(signal);
}
