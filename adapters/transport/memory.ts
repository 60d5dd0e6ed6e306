// In-memory transport: two linked ends in one process. Every frame (an envelope or a batch of
// them) is serialized to JSON text and parsed and validated on the other side, exactly as over a
// socket, and delivered asynchronously in order.

import { BaseLink } from "./link.ts";

export class MemoryLink extends BaseLink {
  peer?: MemoryLink;
  /** Bytes sent, for tests and benchmarks. */
  bytesSent = 0;

  constructor() {
    super("mem");
  }

  protected canSend(): boolean {
    return this.peer !== undefined && this.peer.open;
  }

  protected sendFrame(text: string): boolean {
    const peer = this.peer;
    if (!peer || !peer.open) return false;
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
