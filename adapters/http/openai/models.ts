// What GET /v1/models lists, and how a model the scheduler cannot place is reported. A model is
// listed when a pool of an online node has it (models_available) or the catalog has an Active
// entry for it; a Retired catalog entry hides it everywhere, since admission refuses it too.

import { type CatalogPort, type ControlPort, modelNotAvailable } from "../../../contract/index.ts";
import { fromEnvelope, modelNotFound, type OpenAiErrorReply } from "./errors.ts";
import type { OpenAiModel } from "./schemas.ts";

export interface ModelSources {
  port: Pick<ControlPort, "nodes">;
  catalog: Pick<CatalogPort, "list" | "get">;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

export async function listModels(sources: ModelSources): Promise<OpenAiModel[]> {
  const [nodes, catalog] = await Promise.all([sources.port.nodes(), sources.catalog.list()]);
  const created = new Map<string, number>();
  for (const node of nodes) {
    if (node.status !== "Online") continue;
    for (const pool of node.pools) {
      for (const id of pool.models_available) {
        const at = seconds(node.registered_at_ms);
        created.set(id, Math.min(created.get(id) ?? at, at));
      }
    }
  }
  for (const entry of catalog) {
    if (entry.lifecycle === "Retired") created.delete(entry.id);
    else created.set(entry.id, seconds(entry.created_ms));
  }
  return [...created.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, at]) => ({ id, object: "model", created: at, owned_by: "llama-orch" }));
}

/**
 * MODEL_NOT_AVAILABLE from admission. A model nobody knows is OpenAI's 404 model_not_found, and
 * so is a retired one; a model that is listed (catalog entry, or a pool of an online node has it)
 * but cannot be placed right now is a 503 the client may retry.
 */
export async function modelUnavailable(sources: ModelSources, model: string, message: string): Promise<OpenAiErrorReply> {
  const entry = await sources.catalog.get(model);
  if (entry?.lifecycle === "Retired") return modelNotFound(model, "it is retired in the catalog");
  const listed = entry !== undefined || (await listModels(sources)).some((m) => m.id === model);
  if (listed) return fromEnvelope(modelNotAvailable(message), { param: "model" });
  return modelNotFound(model);
}
