// A task's stream with bounded memory: events are numbered from 0, handed to the state store in
// chunks of `chunkEvents` (tokens folded), and only a window of recent events stays in memory
// (plus what the store has not committed yet). A subscriber that joins after the window moved
// on gets the earlier events from the store, then the window, then the live events that came
// meanwhile, in order, without gaps or duplicates. The last event can be held: stored, but not
// sent to anyone until `release()` (the task sends it once its transcript is committed); after
// that, with everything committed, the stream keeps no events in memory at all. A stream that
// ends within its first chunk is stored only inside its transcript, so its events stay, packed as
// one JSON text with tokens folded (a token costs a few bytes there instead of about 100).

import { internalError, type StreamEvent, type StreamSink } from "../../../contract/index.ts";
import type { StreamChunk } from "../../../adapters/storage/state-store.ts";
import { foldTokens, unfoldChunks } from "./transcript.ts";

export interface StreamLogOptions {
  /** Recent events kept in memory for late subscribers. */
  window: number;
  /** Events per chunk handed to the store. */
  chunkEvents: number;
  /** Hands a chunk to the store; resolves once it is committed. */
  append(chunk: StreamChunk): Promise<void>;
  /** The stored events of [from, to). */
  replay(from: number, to: number): Promise<StreamEvent[]>;
  /** Told when a late subscriber's replay failed (it gets an error event instead). */
  onReplayError?(error: unknown): void;
}

export const STREAM_DEFAULTS = { window: 128, chunkEvents: 64 };

/** Shared by every stream without subscribers: the subscriber list is replaced, never changed in place. */
const NO_SUBSCRIBERS: readonly StreamSink[] = Object.freeze([]);

export class StreamLog {
  /** Events [base, base + events.length) in memory. */
  private events: StreamEvent[] = [];
  private base = 0;
  /** Events handed to the store / committed by it. */
  private sent = 0;
  private committed = 0;
  /**
   * Live subscribers (almost always one). Copied on change, so a delivery iterates a list that
   * nothing changes under it, with no iterator per event, and a stream without any shares one.
   */
  private subscribers: readonly StreamSink[] = NO_SUBSCRIBERS;
  /** Late subscribers waiting for their replay, with the events that went out meanwhile (made for the first). */
  private catching: Map<StreamSink, StreamEvent[]> | undefined;
  private held: StreamEvent | undefined;
  /** After release: the events still kept [base, base + packedCount), as one JSON text. */
  private packed: string | undefined;
  private packedCount = 0;
  private closed = false;
  /** Whether any chunk of this stream went to the store (else there is nothing to discard). */
  everStored = false;

  constructor(private readonly options: StreamLogOptions) {}

  /** Events so far (the held one included). */
  get total(): number {
    return this.base + this.events.length + this.packedCount;
  }

  /** Events in memory now: bounded by the window plus what the store has not committed. */
  get inMemory(): number {
    return this.events.length + this.packedCount;
  }

  /** Subscribers, live or catching up. */
  get watchers(): number {
    return this.subscribers.length + (this.catching?.size ?? 0);
  }

  /**
   * Sends a progress report (a `metrics` frame) to the subscribers now, without recording it: it
   * is not numbered, not replayed to later subscribers and not in the transcript. A report is stale
   * a second later; recording them doubled a short stream's stored events and the control plane's
   * memory at its end (10,000 ten-token streams: 482-495 MB peak RSS recorded, 334-366 MB not).
   */
  report(event: StreamEvent): void {
    if (!this.closed) this.deliver(event);
  }

  /** Records `event` and sends it to every subscriber. */
  emit(event: StreamEvent): void {
    this.record(event);
    this.deliver(event);
    if (this.total - this.sent >= this.options.chunkEvents) this.store(this.take());
  }

  /** Records the last event without sending it; answers the events not yet handed to the store (the transcript's last chunk). */
  hold(event: StreamEvent): StreamChunk | undefined {
    this.record(event);
    this.held = event;
    return this.take(); // the caller stores it, and tells `stored()`
  }

  /** The held last chunk was committed by the caller. */
  stored(chunk: StreamChunk | undefined): void {
    if (!chunk) return;
    this.everStored = true;
    this.sent = Math.max(this.sent, chunk.seq + chunk.count);
    this.acknowledge(chunk.seq + chunk.count);
  }

  /** Sends the held last event and lets every subscriber go; nothing follows it. */
  release(): void {
    if (this.closed) return;
    this.closed = true;
    const last = this.held;
    this.held = undefined;
    if (last) this.deliver(last);
    this.subscribers = NO_SUBSCRIBERS;
    // Everything is committed: an ended stream keeps nothing in memory, late subscribers read the store.
    if (this.committed >= this.total) {
      this.base = this.total;
    } else {
      // Nothing is added any more: late subscribers parse them back (what SSE sends is the same JSON).
      this.packed = JSON.stringify(foldTokens(this.events));
      this.packedCount = this.events.length;
    }
    this.events = [];
  }

  subscribe(sink: StreamSink): void {
    const visible = this.total - (this.held ? 1 : 0);
    const window = this.packed !== undefined ? unfoldChunks([{ seq: 0, count: this.packedCount, entries: JSON.parse(this.packed) }]) : this.events.slice(0, visible - this.base);
    if (this.base === 0) {
      for (const e of window) sink.push(e);
      if (!this.closed) this.addSubscriber(sink);
      return;
    }
    // Events before the window are committed (the window only moves past committed ones).
    const upTo = this.base;
    (this.catching ??= new Map()).set(sink, window);
    this.options.replay(0, upTo).then(
      (stored) => {
        const buffered = this.catching?.get(sink);
        if (!buffered) return; // unsubscribed meanwhile
        this.catching!.delete(sink);
        for (const e of stored) sink.push(e);
        for (const e of buffered) sink.push(e);
        if (!this.closed) this.addSubscriber(sink);
      },
      (error) => {
        if (!this.catching?.delete(sink)) return;
        this.options.onReplayError?.(error);
        sink.push({ type: "error", data: internalError("could not replay the stream's earlier events") });
      },
    );
  }

  unsubscribe(sink: StreamSink): boolean {
    const k = this.subscribers.indexOf(sink);
    if (k >= 0) {
      this.subscribers = this.subscribers.length === 1 ? NO_SUBSCRIBERS : this.subscribers.filter((s) => s !== sink);
      return true;
    }
    return this.catching?.delete(sink) ?? false;
  }

  private addSubscriber(sink: StreamSink): void {
    if (!this.subscribers.includes(sink)) this.subscribers = [...this.subscribers, sink];
  }

  private record(event: StreamEvent): void {
    this.events.push(event);
    this.trim();
  }

  private deliver(event: StreamEvent): void {
    const subscribers = this.subscribers;
    for (let k = 0; k < subscribers.length; k++) subscribers[k]!.push(event);
    if (this.catching !== undefined && this.catching.size > 0) for (const buffered of this.catching.values()) buffered.push(event);
  }

  /** The events not yet handed to the store, as one chunk. */
  private take(): StreamChunk | undefined {
    if (this.total === this.sent) return undefined;
    const seq = this.sent;
    const slice = this.events.slice(seq - this.base);
    this.sent = this.total;
    return { seq, count: slice.length, entries: foldTokens(slice) };
  }

  private store(chunk: StreamChunk | undefined): void {
    if (!chunk) return;
    this.everStored = true;
    // A chunk is retried by the store until it commits; a rejection means the store closed (shutdown).
    this.options.append(chunk).then(
      () => this.acknowledge(chunk.seq + chunk.count),
      () => {},
    );
  }

  private acknowledge(upTo: number): void {
    this.committed = Math.max(this.committed, upTo);
    this.trim();
  }

  /** Drops what is both committed and out of the window, a chunk's worth at a time. */
  private trim(): void {
    if (this.packed !== undefined) return;
    const keepFrom = Math.min(this.committed, this.total - this.options.window);
    if (keepFrom - this.base >= this.options.chunkEvents) {
      this.events.splice(0, keepFrom - this.base);
      this.base = keepFrom;
    }
  }
}
