// WebSocket links. The node dials the control plane (outbound only, so nodes behind NAT work);
// the control plane wraps each accepted socket. Frames are JSON envelopes, or batches of them
// (a JSON array), as text frames (link.ts).

import { BaseLink } from "./link.ts";

/** The accepting side: wraps a server socket given as send/close functions. */
export class ServerWsLink extends BaseLink {
  constructor(
    private readonly sendText: (text: string) => void,
    private readonly closeSocket: (code: number, reason: string) => void,
  ) {
    super("ws-in");
  }

  protected canSend(): boolean {
    return true;
  }

  protected override scheduleFlush(flush: () => void): void {
    setImmediate(flush);
  }

  protected sendFrame(text: string): boolean {
    try {
      this.sendText(text);
      return true;
    } catch {
      return false;
    }
  }

  /** Called by the server for each text frame. */
  frame(text: string): void {
    this.receiveText(text);
  }

  /** Called by the server when the socket closed. */
  socketClosed(reason: string): void {
    this.markClosed(reason);
  }

  protected closeTransport(reason: string): void {
    try {
      this.closeSocket(1000, reason.slice(0, 120));
    } catch {
      // already closed
    }
  }
}

/** The dialing side. `connect` resolves once the socket is open, or rejects. */
export class ClientWsLink extends BaseLink {
  private constructor(private readonly ws: WebSocket) {
    super("ws-out");
  }

  /** `ca`: PEM certificates a wss:// server's chain must lead to (a private CA or a self-signed one). */
  static connect(url: string, options: { token?: string; signal?: AbortSignal; ca?: string } = {}): Promise<ClientWsLink> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      // Bun's WebSocket accepts headers, so the token goes in the handshake like any request; and
      // TLS options, so wss:// verifies the server against `ca` (else the system's roots).
      const ws = new WebSocket(url, { headers, ...(options.ca ? { tls: { ca: options.ca } } : {}) });
      const link = new ClientWsLink(ws);
      let opened = false;
      const onAbort = () => ws.close(1000, "aborted");
      options.signal?.addEventListener("abort", onAbort, { once: true });
      ws.addEventListener("open", () => {
        opened = true;
        resolve(link);
      });
      ws.addEventListener("message", (ev) => {
        if (typeof ev.data === "string") link.receiveText(ev.data);
      });
      ws.addEventListener("close", (ev) => {
        options.signal?.removeEventListener("abort", onAbort);
        if (!opened) reject(new Error(`websocket to ${url} closed before opening (code ${ev.code})`));
        link.markClosed(`socket closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ""})`);
      });
      ws.addEventListener("error", () => {
        if (!opened) reject(new Error(`websocket to ${url} failed to open`));
      });
    });
  }

  protected canSend(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  protected override scheduleFlush(flush: () => void): void {
    setImmediate(flush);
  }

  protected sendFrame(text: string): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(text);
    return true;
  }

  protected closeTransport(reason: string): void {
    this.ws.close(1000, reason.slice(0, 120));
  }
}
