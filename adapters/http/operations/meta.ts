// Operations served by control-app.ts itself: nodes, meta (capabilities, version, this
// document) and the ops endpoints (/health, /ready, /metrics), which need no token.

import { z, type ZodType } from "zod";
import { CapabilitiesV2, EngineCapability, NodeInfo, NodeStatus, PoolView, VersionV2 } from "../schemas.ts";
import { INTERNAL, type ControlOperation } from "./common.ts";

const Health = z.object({ status: z.literal("ok"), version: z.string() });
const Readiness = z.object({ ready: z.boolean(), nodes_online: z.number().int().min(0) });
const NodeList = z.object({ nodes: z.array(NodeInfo), count: z.number().int().min(0) });
const OpenApiJson = z.record(z.string(), z.unknown()).describe("An OpenAPI 3.1 document");

export const META_COMPONENTS: Record<string, ZodType> = {
  PoolView,
  NodeStatus,
  NodeInfo,
  NodeList,
  EngineCapability,
  CapabilitiesV2,
  VersionV2,
  Health,
  Readiness,
};

export const META_OPERATIONS: ControlOperation[] = [
  {
    method: "get",
    path: "/v2/nodes",
    operationId: "listNodesV2",
    summary: "List registered nodes with their pools",
    tags: ["nodes"],
    auth: true,
    responses: { 200: { description: "Every known node, online or not", schema: NodeList }, ...INTERNAL },
  },
  {
    method: "get",
    path: "/v2/meta/capabilities",
    operationId: "getCapabilitiesV2",
    summary: "Engines, context limits and concurrency of the live pools",
    description: "Computed from the pools of online nodes: one entry per engine, with the slots of its ready pools as `concurrency`.",
    tags: ["meta"],
    auth: true,
    responses: { 200: { description: "Capabilities; api_version is 2.0.0", schema: CapabilitiesV2 }, ...INTERNAL },
  },
  {
    method: "get",
    path: "/v2/meta/version",
    operationId: "getVersionV2",
    summary: "API version and build",
    tags: ["meta"],
    auth: true,
    responses: { 200: { description: "Version; build fields are `unknown` when the build did not set them", schema: VersionV2 } },
  },
  {
    method: "get",
    path: "/v2/openapi.json",
    operationId: "getOpenApiV2",
    summary: "This document",
    description: "The same document as docs/openapi.json in the repository.",
    tags: ["meta"],
    auth: true,
    responses: { 200: { description: "OpenAPI 3.1 description of the control plane", schema: OpenApiJson } },
  },
  {
    method: "get",
    path: "/health",
    operationId: "getHealth",
    summary: "Liveness",
    tags: ["ops"],
    responses: { 200: { description: "The process is up", schema: Health } },
  },
  {
    method: "get",
    path: "/ready",
    operationId: "getReady",
    summary: "Readiness: the actor tree is up",
    description: "Ready does not need an online node; `nodes_online` says how many there are.",
    tags: ["ops"],
    responses: { 200: { description: "Ready", schema: Readiness }, 503: { description: "Not ready (this body, not the ErrorEnvelope)", schema: Readiness } },
  },
  {
    method: "get",
    path: "/metrics",
    operationId: "getMetrics",
    summary: "Prometheus metrics",
    tags: ["ops"],
    responses: { 200: { description: "Prometheus text exposition", contentType: "text/plain; version=0.0.4", schema: z.string() }, ...INTERNAL },
  },
];
