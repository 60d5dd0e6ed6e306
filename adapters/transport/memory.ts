// In-memory transport: two linked ends in one process. Every envelope is serialized to JSON text
// and parsed and validated on the other side, exactly as over a socket, and delivered
// asynchronously in order.

import type { Envelope } from "./envelope.ts";
import { BaseLink } from "./link.ts";

export class MemoryLink extends BaseLink {
  peer?: MemoryLink;
  /** Bytes sent, for tests and benchmarks. */
  bytesSent = 0;

  constructor() {
    super("mem");
  }

  send(envelope: Envelope): boolean {
    const peer = this.peer;
    if (!this.open || !peer || !peer.open) return false;
    const text = JSON.stringify(envelope);
    this.bytesSent += text.length;
    queueMicrotask(() => peer.deliver(text));
    return true;
  }

  private deliver(text: string): void {
    this.receiveText(text);
  }

  protected closeTransport(reason: string): void {
    const peer = this.peer;
    // The far end notices the close after in-flight envelopes, as with a socket.
    if (peer) queueMicrotask(() => peer.remoteClosed(reason));
  }

  private remoteClosed(reason: string): void {
    this.markClosed(`peer closed: ${reason}`);
  }
}

export function memoryLinkPair(): [MemoryLink, MemoryLink] {
  const a = new MemoryLink();
  const b = new MemoryLink();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
