// A Link carries serialized envelopes between two processes (or two systems in one process).
// Every implementation serializes: what cannot cross a real wire fails in tests too.

import { parseEnvelope, type Envelope } from "./envelope.ts";

export interface Link {
  readonly id: string;
  readonly open: boolean;
  /** Sends one envelope; false when the link is closed. */
  send(envelope: Envelope): boolean;
  onEnvelope(handler: (envelope: Envelope) => void): void;
  onClose(handler: (reason: string) => void): void;
  close(reason?: string): void;
}

let linkSeq = 0;
export function nextLinkId(prefix: string): string {
  return `${prefix}-${++linkSeq}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Base for links: handler registration, close-once semantics, and receipt of text frames,
 * which are parsed and validated before anyone sees them. Invalid frames are reported and dropped.
 */
export abstract class BaseLink implements Link {
  readonly id: string;
  private envelopeHandlers: ((e: Envelope) => void)[] = [];
  private closeHandlers: ((reason: string) => void)[] = [];
  private closed = false;
  invalidFrames = 0;

  constructor(prefix: string) {
    this.id = nextLinkId(prefix);
  }

  get open(): boolean {
    return !this.closed;
  }

  abstract send(envelope: Envelope): boolean;
  protected abstract closeTransport(reason: string): void;

  onEnvelope(handler: (e: Envelope) => void): void {
    this.envelopeHandlers.push(handler);
  }

  onClose(handler: (reason: string) => void): void {
    if (this.closed) handler("already closed");
    else this.closeHandlers.push(handler);
  }

  close(reason = "closed"): void {
    if (this.closed) return;
    this.closeTransport(reason);
    this.markClosed(reason);
  }

  protected receiveText(text: string): void {
    if (this.closed) return;
    const parsed = parseEnvelope(text);
    if (!parsed.ok) {
      this.invalidFrames++;
      return;
    }
    for (const h of this.envelopeHandlers) h(parsed.envelope);
  }

  protected markClosed(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const h of handlers) h(reason);
  }
}
