// Operations of the pools control routes (routes/pools.ts): health, drain, reload, preload and purge, which the
// control plane forwards to the nodes holding the pool (docs/contract.md#pools-control). A failure the
// port reports carries the envelope plus `rolled_back` and per-node results where it had them.

import { z, type ZodType } from "zod";
import { DEFAULT_RELOAD_DRAIN_MS, ErrorEnvelope, MAX_DRAIN_DEADLINE_MS, PoolDrainNodeV2, PoolDrainRequest, PoolDrainResponseV2, PoolHealthV2, PoolNodeHealthV2, PoolPreloadNodeV2, PoolPreloadRequest, PoolPreloadResponseV2, PoolPurgeNodeV2, PoolPurgeRequest, PoolPurgeResponseV2, PoolReloadNodeV2, PoolReloadRequest, PoolReloadResponseV2 } from "../../../contract/index.ts";
import { BAD_JSON_BODY, INTERNAL, type ControlOperation } from "./common.ts";

const PoolDrainError = z
  .intersection(ErrorEnvelope, z.object({ nodes: z.array(PoolDrainNodeV2).optional() }))
  .describe("ErrorEnvelope plus each node's outcome, when the drain reached any node");
const PoolReloadError = z
  .intersection(ErrorEnvelope, z.object({ nodes: z.array(PoolReloadNodeV2).optional() }))
  .describe("ErrorEnvelope (rolled_back set when a failed reload restored the old engine) plus each node's outcome");

const PoolPreloadError = z
  .intersection(ErrorEnvelope, z.object({ nodes: z.array(PoolPreloadNodeV2).optional() }))
  .describe("ErrorEnvelope plus each node's outcome");

const PoolPurgeError = z
  .intersection(ErrorEnvelope, z.object({ nodes: z.array(PoolPurgeNodeV2).optional() }))
  .describe("ErrorEnvelope plus each node's outcome (which nodes purged, which refused)");

export const POOL_COMPONENTS: Record<string, ZodType> = {
  PoolNodeHealthV2,
  PoolHealthV2,
  PoolDrainRequest,
  PoolDrainNodeV2,
  PoolDrainResponseV2,
  PoolDrainError,
  PoolReloadRequest,
  PoolReloadNodeV2,
  PoolReloadResponseV2,
  PoolReloadError,
  PoolPreloadRequest,
  PoolPreloadNodeV2,
  PoolPreloadResponseV2,
  PoolPreloadError,
  PoolPurgeRequest,
  PoolPurgeNodeV2,
  PoolPurgeResponseV2,
  PoolPurgeError,
};

const NOT_FOUND = "NOT_FOUND: no node (online or not) holds the pool, or it is not on node_id";

export const POOL_OPERATIONS: ControlOperation[] = [
  {
    method: "get",
    path: "/v2/pools/{id}/health",
    operationId: "getPoolHealthV2",
    summary: "A pool's liveness, readiness and slots, over every node holding it",
    description: "Live/ready when any node's pool is, draining when every node's is; metrics are summed. `nodes` has each node's view.",
    tags: ["pools"],
    auth: true,
    request: { query: z.object({ node_id: z.string().min(1).max(128).optional().describe("Only this node's pool") }) },
    responses: {
      200: { description: "The pool's health", schema: PoolHealthV2 },
      400: { description: "INVALID_PARAMS: node_id is empty or longer than 128 characters" },
      404: { description: NOT_FOUND },
      ...INTERNAL,
    },
  },
  {
    method: "post",
    path: "/v2/pools/{id}/drain",
    operationId: "drainPoolV2",
    summary: "Stop placing tasks on a pool; in-flight tasks get until the deadline",
    description:
      `Answers once every node holding the pool (or node_id) has marked it draining, so health reports draining:true at once; the drain goes on there. ` +
      `deadline_ms is at most ${MAX_DRAIN_DEADLINE_MS}.`,
    tags: ["pools"],
    auth: true,
    request: { body: PoolDrainRequest },
    responses: {
      202: { description: "Draining on at least one node; `nodes` lists each node's outcome (an offline node: draining:false with NODE_UNAVAILABLE)", schema: PoolDrainResponseV2 },
      400: { description: BAD_JSON_BODY },
      404: { description: NOT_FOUND, schema: PoolDrainError },
      409: { description: "POOL_UNAVAILABLE: a node is busy reloading the pool; drain it once that is done", schema: PoolDrainError },
      503: { description: "NODE_UNAVAILABLE: no node holding the pool is online or answered in time", schema: PoolDrainError },
      ...INTERNAL,
    },
  },
  {
    method: "post",
    path: "/v2/pools/{id}/reload",
    operationId: "reloadPoolV2",
    summary: "Swap a pool's model: drain, stop, start the new one, roll back on failure",
    description:
      `Waits up to deadline_ms (default ${DEFAULT_RELOAD_DRAIN_MS}) for in-flight tasks before the swap; past it nothing changes. ` +
      "Nodes are reloaded one at a time, so the others keep serving; offline holders are skipped and listed with NODE_UNAVAILABLE. " +
      "Answers when the new engine is ready on every node, or after the rollback.",
    tags: ["pools"],
    auth: true,
    request: { body: PoolReloadRequest },
    responses: {
      200: { description: "Every online node holding the pool switched (one node at a time, in node_id order)", schema: PoolReloadResponseV2 },
      400: { description: BAD_JSON_BODY },
      404: { description: NOT_FOUND, schema: PoolReloadError },
      409: {
        description:
          "A node was busy, passed its drain deadline, or failed to start the new model and rolled back; the nodes already switched are switched back. " +
          "`rolled_back` is true when something had changed and all of it was undone.",
        schema: PoolReloadError,
      },
      503: { description: "POOL_UNREADY: a node's rollback failed; NODE_UNAVAILABLE: a node did not answer", schema: PoolReloadError },
      ...INTERNAL,
    },
  },
  {
    method: "post",
    path: "/v2/pools/{id}/preload",
    operationId: "preloadPoolV2",
    summary: "Bring a pool's engine up and answer once it is ready (the way back from a drain)",
    description:
      "On each node holding the pool (or node_id), at once: a drained pool's engine is started on its model and the pool serves again when it is ready; " +
      "a pool whose engine is starting or restarting is waited for; a ready pool answers already:true. The engine gets 120 s (health polled every 500 ms). " +
      "A preload that fails leaves a drained pool drained, with last_error starting 'preload failed:'. The body is optional.",
    tags: ["pools"],
    auth: true,
    request: { body: PoolPreloadRequest, bodyOptional: true },
    responses: {
      200: { description: "The pool's engine is ready on every online node holding it; offline holders are listed with NODE_UNAVAILABLE", schema: PoolPreloadResponseV2 },
      400: { description: BAD_JSON_BODY },
      404: { description: NOT_FOUND, schema: PoolPreloadError },
      409: { description: "POOL_UNAVAILABLE: a drain, reload or preload of the pool is under way on a node", schema: PoolPreloadError },
      503: {
        description:
          "POOL_UNREADY: an engine did not become ready (message 'preload failed: …', 'health check failed' on a timeout); " +
          "POOL_UNAVAILABLE: the pool may not run on a node (GPU-only rule); NODE_UNAVAILABLE: no holder is online or one did not answer",
        schema: PoolPreloadError,
      },
      ...INTERNAL,
    },
  },
  {
    method: "post",
    path: "/v2/pools/{id}/purge",
    operationId: "purgePoolV2",
    summary: "Stop a pool's engine and remove the model files the node downloaded for it",
    description:
      "On each node holding the pool (or node_id), at once: the engine is stopped and the pool's files in the node's model cache (the download of its https:// or hf: model, " +
      "and a partial download with its resume file) are removed. A model that is a local path of the pools file, or a name, is never removed (`kept` says why). " +
      "Refused while tasks run on the pool: drain it first. Afterwards the pool is not ready, like a drained pool, with last_error starting 'purged:'; " +
      "a preload or reload starts it again and downloads the model again (when downloads are allowed). The body is optional.",
    tags: ["pools"],
    auth: true,
    request: { body: PoolPurgeRequest, bodyOptional: true },
    responses: {
      200: { description: "Purged on every node holding the pool; `removed` and `bytes_freed` per node", schema: PoolPurgeResponseV2 },
      400: { description: BAD_JSON_BODY },
      404: { description: NOT_FOUND, schema: PoolPurgeError },
      409: { description: "POOL_UNAVAILABLE: tasks run on the pool (drain it first), or a drain, reload, preload or purge is under way on a node; `nodes` says which nodes purged", schema: PoolPurgeError },
      503: { description: "NODE_UNAVAILABLE: a node holding the pool is offline or did not answer; POOL_UNAVAILABLE: the pool may not run on a node (GPU-only rule)", schema: PoolPurgeError },
      500: { description: "INTERNAL: the engine stopped but a cached model file could not be removed (the message names it), or an unexpected failure", schema: PoolPurgeError },
    },
  },
];
