// A minimal HTTP/1.1 keep-alive client connection over Bun.connect, for the admission load
// generators: fetch() costs the client more CPU per request than a bare server spends answering
// it, and on a 2-core machine the client's CPU is taken from the measured processes. One request
// at a time per connection (no pipelining). Responses with Content-Length or chunked bodies.

import type { Socket } from "bun";

export type OnResponse = (status: number, body: string | undefined, error?: string) => void;

const HEADER_END = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");

interface State {
  conn: H1Conn;
}

export class H1Conn {
  socket!: Socket<State>;
  closed = false;
  #buf: Buffer | undefined;
  #cb: OnResponse | undefined;
  #wantBody = false;
  #pendingWrite: Uint8Array | undefined;

  static open(host: string, port: number): Promise<H1Conn> {
    const conn = new H1Conn();
    return Bun.connect<State>({
      hostname: host,
      port,
      data: { conn },
      socket: {
        data: (s, chunk) => s.data.conn.#onData(chunk),
        drain: (s) => s.data.conn.#onDrain(),
        close: (s) => s.data.conn.#onClose("closed"),
        error: (s, e) => s.data.conn.#onClose(String(e)),
        end: (s) => s.data.conn.#onClose("ended"),
      },
    }).then((socket) => {
      conn.socket = socket;
      return conn;
    });
  }

  get busy(): boolean {
    return this.#cb !== undefined;
  }

  /** Sends one request; `cb` gets the status (and the body when `wantBody`). */
  send(request: Uint8Array, wantBody: boolean, cb: OnResponse): void {
    if (this.closed) return cb(0, undefined, "connection closed");
    this.#cb = cb;
    this.#wantBody = wantBody;
    const n = this.socket.write(request);
    if (n < request.length) this.#pendingWrite = request.subarray(Math.max(0, n));
  }

  close(): void {
    this.closed = true;
    this.socket?.end();
  }

  #onDrain() {
    const rest = this.#pendingWrite;
    if (!rest) return;
    const n = this.socket.write(rest);
    this.#pendingWrite = n < rest.length ? rest.subarray(Math.max(0, n)) : undefined;
  }

  #onClose(why: string) {
    if (this.closed && !this.#cb) return;
    this.closed = true;
    const cb = this.#cb;
    this.#cb = undefined;
    cb?.(0, undefined, why);
  }

  #onData(chunk: Buffer) {
    const buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
    const headEnd = buf.indexOf(HEADER_END);
    if (headEnd < 0) {
      this.#buf = buf;
      return;
    }
    const head = buf.toString("latin1", 0, headEnd).toLowerCase();
    const status = Number(head.slice(9, 12));
    const start = headEnd + 4;
    let end: number; // end of the response in buf
    let body: string | undefined;
    const cl = head.match(/\r\ncontent-length:\s*(\d+)/);
    if (cl) {
      end = start + Number(cl[1]);
      if (buf.length < end) {
        this.#buf = buf;
        return;
      }
      if (this.#wantBody) body = buf.toString("utf8", start, end);
    } else if (/\r\ntransfer-encoding:\s*chunked/.test(head)) {
      const parts: Buffer[] = [];
      let at = start;
      for (;;) {
        const lineEnd = buf.indexOf(CRLF, at);
        if (lineEnd < 0) {
          this.#buf = buf;
          return;
        }
        const size = parseInt(buf.toString("latin1", at, lineEnd), 16);
        if (size === 0) {
          if (buf.length < lineEnd + 4) {
            this.#buf = buf;
            return;
          }
          end = lineEnd + 4; // no trailers
          break;
        }
        if (buf.length < lineEnd + 2 + size + 2) {
          this.#buf = buf;
          return;
        }
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      if (this.#wantBody) body = Buffer.concat(parts).toString("utf8");
    } else {
      end = start; // no body (204 and the like)
    }
    this.#buf = buf.length > end ? buf.subarray(end) : undefined;
    const keepAlive = !/\r\nconnection:\s*close/.test(head);
    const cb = this.#cb;
    this.#cb = undefined;
    if (!keepAlive) this.close();
    cb?.(status, body);
  }
}

/** The bytes of a POST with a JSON body. */
export function postRequest(host: string, port: number, path: string, json: string): Uint8Array {
  const body = Buffer.from(json);
  return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
}
