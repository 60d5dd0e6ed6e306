// The artifact actor: the API's content-addressed documents (`/v2/artifacts`) over the state
// store. An id is the SHA-256 of the request's canonical JSON; storing a document twice keeps the
// first record, so its id and created_ms never change. A put is answered once its write has
// committed, but the mailbox does not wait for it: puts arriving meanwhile share the store's next
// transaction. Task transcripts do not pass through here; task actors write them to the store
// themselves (control-plane.ts), since a mailbox in between would only serialize them.

import type { ActorFactory, Logger } from "../../../runtime/index.ts";
import type { StateStore } from "../../../adapters/storage/state-store.ts";
import { ARTIFACT_ID_RE, ArtifactDocumentV2, type ArtifactRefV2, ArtifactV2, internalError, invalidParams, type PortResult } from "../../../contract/index.ts";
import { artifactId, JsonTooDeepError } from "./canonical.ts";
import type { ArtifactsMsg } from "./protocol.ts";

export interface ArtifactsOptions {
  store: StateStore;
  log: Logger;
}

export function artifactsActor(options: ArtifactsOptions): ActorFactory<ArtifactsMsg> {
  return (ctx) => {
    const { log, store } = options;

    /** The stored document; an error when the stored row is not a valid artifact. */
    const load = async (id: string): Promise<PortResult<ArtifactDocumentV2 | undefined>> => {
      let raw: unknown;
      try {
        raw = await store.artifacts.get(id);
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

    const put = (artifact: ArtifactV2): PortResult<ArtifactRefV2> | undefined => {
      const parsed = ArtifactV2.safeParse(artifact);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return { ok: false, error: invalidParams(`${issue?.path.join(".") || "artifact"}: ${issue?.message ?? "invalid"}`) };
      }
      let id: string;
      try {
        id = artifactId(parsed.data);
      } catch (e) {
        // Bad input gets an answer, not a crash (a throw here would restart the actor).
        if (e instanceof JsonTooDeepError) return { ok: false, error: invalidParams(`artifact: ${e.message}`) };
        throw e;
      }
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
      const reply = ctx.takeReply<PortResult<ArtifactRefV2>>();
      store.artifacts.put(doc).then(
        (ref) => {
          log.debug(`Stored artifact ${id}`, { artifact_id: id, kind: a.kind });
          reply?.resolve({ ok: true, value: ref });
        },
        (e) => {
          log.error(`Could not store artifact ${id}`, { artifact_id: id, error: (e as Error).message });
          reply?.resolve({ ok: false, error: internalError("could not store the artifact") });
        },
      );
      return undefined;
    };

    return {
      async receive(msg) {
        switch (msg.type) {
          case "put":
            return put(msg.artifact);
          case "get":
            return ARTIFACT_ID_RE.test(msg.id) ? load(msg.id) : { ok: true, value: undefined };
          case "list":
            return store.artifacts.list({ tags: msg.tags, kind: msg.kind, limit: msg.limit });
        }
      },
    };
  };
}
