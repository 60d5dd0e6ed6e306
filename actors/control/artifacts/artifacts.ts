// The artifact store: one JSON file per artifact (`<root>/<id>.json`, atomic writes), addressed by
// the SHA-256 of the request's canonical JSON. Storing a document twice keeps the first record,
// so its id and created_ms never change. A compact ref of each artifact is appended to
// `refs.jsonl` so listing by tag needs no scan of the documents; a torn last line is skipped.

import { appendFile, readFile } from "node:fs/promises";
import type { ActorFactory, Logger } from "../../../runtime/index.ts";
import { FsStore } from "../../../adapters/storage/fs-store.ts";
import { ARTIFACT_ID_RE, ArtifactDocumentV2, type ArtifactRefV2, ArtifactV2, internalError, invalidParams, type PortResult } from "../../../contract/index.ts";
import { artifactId } from "./canonical.ts";
import type { ArtifactsMsg } from "./protocol.ts";

export interface ArtifactsOptions {
  /** Directory of the artifact files; created when missing. */
  root: string;
  log: Logger;
}

const fileOf = (id: string) => `${id}.json`;
const REFS_FILE = "refs.jsonl";

const refOf = (doc: ArtifactDocumentV2): ArtifactRefV2 => ({ id: doc.id, kind: doc.kind, digest: doc.digest, created_ms: doc.created_ms, tags: doc.tags });

export function artifactsActor(options: ArtifactsOptions): ActorFactory<ArtifactsMsg> {
  return (ctx) => {
    const { log } = options;
    let store!: FsStore;
    const refs = new Map<string, ArtifactRefV2>();

    const loadRefs = async () => {
      let text = "";
      try {
        text = await readFile(store.pathOf(REFS_FILE), "utf8");
      } catch {
        return; // no artifacts yet
      }
      for (const line of text.split("\n")) {
        if (!line) continue;
        try {
          const ref = JSON.parse(line) as ArtifactRefV2;
          refs.set(ref.id, ref);
        } catch {
          // A line torn by a crash mid-append: its document is still there, only unlisted.
        }
      }
    };

    /** The stored document; an error when the file exists but is not a valid artifact. */
    const load = async (id: string): Promise<PortResult<ArtifactDocumentV2 | undefined>> => {
      let raw: unknown;
      try {
        raw = await store.readJson(fileOf(id));
      } catch (e) {
        log.error(`Artifact ${id} is unreadable`, { artifact_id: id, error: (e as Error).message });
        return { ok: false, error: internalError(`artifact ${id} is unreadable`) };
      }
      if (raw === undefined) return { ok: true, value: undefined };
      const parsed = ArtifactDocumentV2.safeParse(raw);
      if (parsed.success && parsed.data.id === id) return { ok: true, value: parsed.data };
      log.error(`Artifact ${id} is not a valid artifact record`, { artifact_id: id });
      return { ok: false, error: internalError(`artifact ${id} is unreadable`) };
    };

    const put = async (artifact: ArtifactV2): Promise<PortResult<ArtifactRefV2>> => {
      const parsed = ArtifactV2.safeParse(artifact);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return { ok: false, error: invalidParams(`${issue?.path.join(".") || "artifact"}: ${issue?.message ?? "invalid"}`) };
      }
      const id = artifactId(parsed.data);
      const existing = await load(id);
      // A damaged record is simply rewritten: the id says exactly what it must contain.
      if (existing.ok && existing.value) return { ok: true, value: refOf(existing.value) };
      const a = parsed.data;
      const doc: ArtifactDocumentV2 = {
        id,
        kind: a.kind,
        digest: `sha256:${id}`,
        created_ms: ctx.clock.now(),
        tags: a.tags ?? [],
        parent: a.parent ?? null,
        metadata: a.metadata ?? {},
        content: a.content,
      };
      try {
        // Compact: transcripts can be large, and nobody edits these by hand.
        await store.write(fileOf(id), JSON.stringify(doc));
      } catch (e) {
        log.error(`Could not store artifact ${id}`, { artifact_id: id, error: (e as Error).message });
        return { ok: false, error: internalError("could not store the artifact") };
      }
      const ref = refOf(doc);
      if (!refs.has(id)) {
        refs.set(id, ref);
        await appendFile(store.pathOf(REFS_FILE), `${JSON.stringify(ref)}\n`).catch((e) =>
          log.warn("Could not index an artifact", { artifact_id: id, error: (e as Error).message }),
        );
      }
      log.debug(`Stored artifact ${id}`, { artifact_id: id, kind: a.kind });
      return { ok: true, value: ref };
    };

    return {
      async init() {
        store = await FsStore.open(options.root);
        await loadRefs();
      },
      async receive(msg) {
        switch (msg.type) {
          case "put":
            return put(msg.artifact);
          case "get":
            return ARTIFACT_ID_RE.test(msg.id) ? load(msg.id) : { ok: true, value: undefined };
          case "list": {
            const found: ArtifactRefV2[] = [];
            for (const ref of refs.values()) {
              if (msg.kind && ref.kind !== msg.kind) continue;
              if (msg.tags.every((t) => ref.tags.includes(t))) found.push(ref);
            }
            found.sort((a, b) => b.created_ms - a.created_ms || (a.id < b.id ? -1 : 1));
            return found.slice(0, msg.limit);
          }
        }
      },
    };
  };
}
