export { catalogActor, type CatalogOptions } from "./catalog.ts";
export { buildAvailability } from "./availability.ts";
export { createCatalogPort, DEFAULT_VERIFY_TIMEOUT_MS, type CatalogPortOptions } from "./port.ts";
export { effectivePolicy, judgeDigest, localPathOf, registryOf, trustViolation, verifyWarnings, type DigestVerdict } from "./verify.ts";
export type { CatalogMetrics, CatalogMsg, CatalogRef, CatalogReplies, LifecycleChange, VerifyReason } from "./protocol.ts";
