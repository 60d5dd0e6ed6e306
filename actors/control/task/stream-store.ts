// The task actors' way to the state store (their StreamHooks): stream chunks appended with
// retry, replay of stored events, and the transcript assembled at a task's end from every stored
// chunk and written as a content-addressed `trace` artifact, the same document the artifact
// API would store for it. The task actors write here directly, not through control/artifacts:
// the store batches and orders writes itself, and one mailbox for every task's transcript is what
// made them time out under load. A transcript that cannot be stored is logged and counted, never
// dropped silently.

import type { Clock, Logger } from "../../../runtime/index.ts";
import type { ArtifactDocumentV2, ArtifactV2 } from "../../../contract/index.ts";
import type { StateStore, StreamChunk } from "../../../adapters/storage/state-store.ts";
import { artifactId } from "../artifacts/canonical.ts";
import type { StreamHooks } from "./protocol.ts";
import { joinChunks, transcriptArtifact, unfoldChunks } from "./transcript.ts";

export interface StreamStoreOptions {
  store: StateStore;
  log: Logger;
  clock: Clock;
  /** A transcript could not be stored (transcripts_lost_total). */
  onLost?(): void;
}

export interface StreamStoreHooks extends StreamHooks {
  /** Resolves once every transcript being assembled now is stored (or counted lost): before the store closes. */
  drain(): Promise<void>;
}

export function createStreamHooks(options: StreamStoreOptions): StreamStoreHooks {
  const { store, log, clock } = options;
  const inflight = new Set<Promise<boolean>>();

  const assemble = async (task_id: string, last: StreamChunk | undefined, header: Parameters<StreamHooks["finish"]>[2]) => {
    // A short stream (the common case under load) is all in its last chunk: its transcript is
    // made from that chunk alone, with one commit instead of three (chunk, transcript, discard)
    // and no read. Its events stay in the task's memory for late subscribers (a chunk's worth).
    const whole = last !== undefined && last.seq === 0;
    try {
      // Chunks of one stream commit in order, so once the last one has, all have.
      if (last && !whole) await store.streams.append(task_id, last, { retry: true });
      const chunks = whole ? [last] : await store.streams.read(task_id);
      let next = 0;
      for (const c of chunks) {
        if (c.seq !== next) break;
        next = c.seq + c.count;
      }
      const expected = last ? last.seq + last.count : next;
      if (next !== expected) {
        log.error("A task transcript is missing stored events", { job_id: task_id, ...header.logFields, events_stored: next });
      }
      // Built here from typed parts, so not checked again against the API's schema (a zod pass
      // over the whole transcript cost more than storing it).
      const artifact: ArtifactV2 = { ...transcriptArtifact(header, joinChunks(chunks)), parent: null };
      const id = artifactId(artifact);
      const doc: ArtifactDocumentV2 = {
        id,
        kind: artifact.kind,
        digest: `sha256:${id}`,
        created_ms: clock.now(),
        tags: artifact.tags ?? [],
        parent: null,
        metadata: artifact.metadata ?? {},
        content: artifact.content,
      };
      await store.artifacts.put(doc, { retry: true, transcript: true });
    } catch (e) {
      options.onLost?.();
      log.error("Could not store a task transcript", { job_id: task_id, ...header.logFields, error: (e as Error).message });
    }
    return !whole;
  };

  return {
    append: (task_id, chunk) => store.streams.append(task_id, chunk, { retry: true }),
    replay: async (task_id, from, to) => unfoldChunks(await store.streams.read(task_id, from, to), from, to),
    finish(task_id, last, header) {
      const done = assemble(task_id, last, header);
      inflight.add(done);
      void done.finally(() => inflight.delete(done));
      return done;
    },
    discard(task_id) {
      store.streams.discard(task_id).catch((e) => log.debug("Could not discard a stream's chunks", { job_id: task_id, error: (e as Error).message }));
    },
    async drain() {
      await Promise.all([...inflight]);
    },
  };
}
