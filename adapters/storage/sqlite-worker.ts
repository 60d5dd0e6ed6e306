// The state database's writer thread: owns the one writable connection and applies batches and
// retention passes, one message at a time, so commits (and their fsyncs) never block the control
// plane's event loop. Replies carry the committed stored-bytes total.

import type { Database } from "bun:sqlite";
import { openDatabase, storedBytes, Writer, type Op, type RetainRequest } from "./sqlite-ops.ts";

export type WriterRequest =
  | { id: number; type: "open"; path: string }
  | { id: number; type: "batch"; ops: Op[] }
  | { id: number; type: "retain"; request: RetainRequest }
  | { id: number; type: "close" };

export type WriterReply = { id: number; ok: true; value: unknown; bytes: number } | { id: number; ok: false; error: string };

declare const self: Worker;

let db: Database | undefined;
let writer: Writer | undefined;

self.onmessage = (event: MessageEvent<WriterRequest>) => {
  const msg = event.data;
  try {
    let value: unknown = null;
    switch (msg.type) {
      case "open":
        db = openDatabase(msg.path);
        writer = new Writer(db);
        break;
      case "batch":
        value = writer!.apply(msg.ops);
        break;
      case "retain":
        value = writer!.retain(msg.request);
        break;
      case "close":
        if (db) {
          db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
          db.close();
        }
        db = undefined;
        writer = undefined;
        postMessage({ id: msg.id, ok: true, value: null, bytes: 0 } satisfies WriterReply);
        return;
    }
    postMessage({ id: msg.id, ok: true, value, bytes: storedBytes(db!) } satisfies WriterReply);
  } catch (e) {
    postMessage({ id: msg.id, ok: false, error: e instanceof Error ? e.message : String(e) } satisfies WriterReply);
  }
};
