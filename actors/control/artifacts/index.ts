export { artifactsActor, type ArtifactsOptions } from "./artifacts.ts";
export { artifactId, canonicalJson } from "./canonical.ts";
export { createArtifactsPort } from "./port.ts";
export type { ArtifactsMsg, ArtifactsRef, ArtifactsReplies } from "./protocol.ts";
