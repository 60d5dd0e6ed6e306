// A small /v2/ws client for tests: a real `WebSocket`, every frame kept in arrival order, and
// waits on frames by predicate (never on time). Close it in finally/afterEach.

export interface WsClient {
  /** Every frame received so far, parsed. */
  frames: any[];
  send(frame: unknown): void;
  sendRaw(data: string | Uint8Array): void;
  /** The first frame (from the start) matching `pred` that has not been taken by `next` yet. */
  next(pred?: (frame: any) => boolean): Promise<any>;
  /** Frames of one task until its `end` or `error` stream event (inclusive). */
  untilEnd(taskId: string): Promise<any[]>;
  /** Resolves with the close code and reason once the socket is closed. */
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export function wsUrl(base: string): string {
  return `${base.replace(/^http/, "ws")}/v2/ws`;
}

export const isStreamEnd = (taskId: string) => (f: any) => f.task_id === taskId && (f.type === "end" || f.type === "error") && "data" in f;

export async function openWs(base: string, headers: Record<string, string> = {}): Promise<WsClient> {
  const socket = new WebSocket(wsUrl(base), { headers } as any);
  const frames: any[] = [];
  const taken = new Set<number>();
  let waiters: { pred: (f: any) => boolean; resolve: (f: any) => void }[] = [];
  let resolveClosed!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (resolveClosed = r));
  let isClosed = false;

  const offer = (index: number) => {
    const frame = frames[index];
    const w = waiters.find((x) => x.pred(frame));
    if (!w) return;
    taken.add(index);
    waiters = waiters.filter((x) => x !== w);
    w.resolve(frame);
  };
  socket.addEventListener("message", (ev) => {
    frames.push(JSON.parse(String(ev.data)));
    offer(frames.length - 1);
  });
  socket.addEventListener("close", (ev) => {
    isClosed = true;
    resolveClosed({ code: ev.code, reason: ev.reason });
  });
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error("WebSocket failed to open")), { once: true });
  });

  const client: WsClient = {
    frames,
    send: (frame) => socket.send(JSON.stringify(frame)),
    sendRaw: (data) => socket.send(data),
    next(pred = () => true) {
      const index = frames.findIndex((f, i) => !taken.has(i) && pred(f));
      if (index >= 0) {
        taken.add(index);
        return Promise.resolve(frames[index]);
      }
      return new Promise((resolve, reject) => {
        waiters.push({ pred, resolve });
        void closed.then(() => {
          if (waiters.some((w) => w.resolve === resolve)) reject(new Error(`socket closed while waiting; frames: ${JSON.stringify(frames)}`));
        });
      });
    },
    async untilEnd(taskId) {
      await client.next(isStreamEnd(taskId));
      return frames.filter((f) => f.task_id === taskId);
    },
    closed,
    async close() {
      if (isClosed) return;
      socket.close();
      await closed;
    },
  };
  return client;
}
