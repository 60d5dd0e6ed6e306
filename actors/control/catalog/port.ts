// The CatalogPort the HTTP routes use, on top of the catalog actor and the node list.

import type { CatalogPort, NodeInfo } from "../../../contract/index.ts";
import { buildAvailability } from "./availability.ts";
import type { CatalogRef } from "./protocol.ts";

export interface CatalogPortOptions {
  catalog: CatalogRef;
  /** The registry's node list (e.g. `() => registry.ask({ type: "list" })`). */
  nodes: () => Promise<NodeInfo[]>;
  /** Hashing a large model takes a while: 40 GiB at ~1 GiB/s is most of a minute. */
  verifyTimeoutMs?: number;
}

export const DEFAULT_VERIFY_TIMEOUT_MS = 600_000;

export function createCatalogPort(options: CatalogPortOptions): CatalogPort {
  const { catalog } = options;
  return {
    create: (model, { trust }) => catalog.ask({ type: "create", model, trust }),
    get: (id) => catalog.ask({ type: "get", id }),
    list: () => catalog.ask({ type: "list" }),
    delete: (id) => catalog.ask({ type: "delete", id }),
    verify: (id) => catalog.ask({ type: "verify", id }, { timeoutMs: options.verifyTimeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS }),
    setState: (id, request) => catalog.ask({ type: "set-state", id, state: request.state, deadline_ms: request.deadline_ms }),
    availability: async () => buildAvailability(await options.nodes()),
  };
}
