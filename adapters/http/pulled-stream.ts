// A response body written at the reader's pace: Bun pulls from it only as fast as the socket
// drains (measured: it stops pulling after ~4 MB of unread data), and pieces wait in `pending`
// until then. Shared by the SSE stream of a task and the OpenAI `data:` stream. A comment line
// goes first, because Bun sends the response head only with the first chunk and a queued task may
// have nothing to say for a while (SSE parsers ignore comments). A client that goes away (abort,
// or the body canceled) releases its subscription, which cancels the task if it watched alone.

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

export function createPulledStream(signal: AbortSignal): PulledStream {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const pending: string[] = [];
  let head = 0; // index of the next pending piece
  let lastQueued = false;
  let closed = false;
  let left = false;
  let subscription: Subscription | undefined;
  let flushQueued = false;

  const leave = () => {
    if (closed || left) return;
    left = true;
    pending.length = 0;
    head = 0;
    subscription?.unsubscribe({ cancelIfLast: true });
  };

  /** Writes waiting pieces while the reader wants more. Re-entrant: enqueue may call pull. */
  const flush = () => {
    while (!closed && !left && head < pending.length && (controller.desiredSize ?? 0) > 0) {
      const end = Math.min(pending.length, head + MAX_PIECES_PER_CHUNK);
      let text = "";
      for (; head < end; head++) text += pending[head];
      const done = lastQueued && head === pending.length;
      if (head === pending.length) {
        pending.length = 0;
        head = 0;
      }
      controller.enqueue(encoder.encode(text));
      if (done && !closed) {
        closed = true;
        signal.removeEventListener("abort", leave);
        controller.close();
      }
    }
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
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
    write(text, last = false) {
      if (lastQueued || left) return;
      pending.push(text);
      if (last) lastQueued = true;
      // Pieces written in the same turn (the tokens of one burst) go out as one chunk: one
      // encode and one enqueue instead of one per token.
      if (flushQueued) return;
      flushQueued = true;
      queueMicrotask(() => {
        flushQueued = false;
        flush();
      });
    },
    backlog: () => pending.length - head,
    ended: () => lastQueued || left,
    attach(s) {
      subscription = s;
      if (left) s.unsubscribe({ cancelIfLast: true });
    },
  };
}
