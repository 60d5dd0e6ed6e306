// The ArtifactsPort the HTTP routes use, on top of the artifact actor. An unreadable stored file
// becomes a thrown error, which the HTTP layer answers 500 INTERNAL.

import type { ArtifactsPort } from "../../../contract/index.ts";
import type { ArtifactsRef } from "./protocol.ts";

export function createArtifactsPort(artifacts: ArtifactsRef): ArtifactsPort {
  return {
    put: (artifact) => artifacts.ask({ type: "put", artifact }),
    list: (query) => artifacts.ask({ type: "list", ...query }),
    async get(id) {
      const outcome = await artifacts.ask({ type: "get", id });
      if (!outcome.ok) throw new Error(outcome.error.message);
      return outcome.value;
    },
  };
}
