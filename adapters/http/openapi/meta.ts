// Operations served by control-app.ts itself: nodes, meta (capabilities, version, this
// document) and the ops endpoints (/health, /ready, /metrics), which need no token.

import { z, type ZodType } from "zod";
import { CapabilitiesV2, EngineCapability, GpuInfo, HeartbeatRequest, HeartbeatResponse, NodeCapabilities, NodeInfo, NodeStatus, PoolView, RegisterRequest, RegisterResponse, VersionV2 } from "../../../contract/index.ts";
import { INTERNAL, type ControlOperation } from "./common.ts";

const Health = z.object({ status: z.literal("ok"), version: z.string() });
const Readiness = z.object({ ready: z.boolean(), nodes_online: z.number().int().min(0) });
const NodeList = z.object({ nodes: z.array(NodeInfo), count: z.number().int().min(0) });
const OpenApiJson = z.record(z.string(), z.unknown()).describe("An OpenAPI 3.1 document");

export const META_COMPONENTS: Record<string, ZodType> = {
  PoolView,
  GpuInfo,
  NodeCapabilities,
  RegisterRequest,
  RegisterResponse,
  HeartbeatRequest,
  HeartbeatResponse,
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
    method: "post",
    path: "/v2/nodes/register",
    operationId: "registerNodeV2",
    summary: "Register a node over REST (the node link's register, for tools)",
    description:
      "Idempotent; re-registering updates the node. `pools` entries are pool ids or snapshots. A node registered only over REST is listed and counts for availability, but receives no task: tasks go over the node link.",
    tags: ["nodes"],
    auth: true,
    request: { body: RegisterRequest },
    responses: { 200: { description: "Registered", schema: RegisterResponse }, 400: { description: "INVALID_PARAMS: bad body" }, ...INTERNAL },
  },
  {
    method: "post",
    path: "/v2/nodes/{id}/heartbeat",
    operationId: "heartbeatNodeV2",
    summary: "Heartbeat of a registered node with its pool snapshots (and GPU samples)",
    tags: ["nodes"],
    auth: true,
    request: { body: HeartbeatRequest },
    responses: {
      200: { description: "Recorded; beat again within next_heartbeat_ms", schema: HeartbeatResponse },
      400: { description: "INVALID_PARAMS: bad body, or the node is connected over the node link (only its link may heartbeat it)" },
      404: { description: "NOT_FOUND: the node is not registered" },
      ...INTERNAL,
    },
  },
  {
    method: "delete",
    path: "/v2/nodes/{id}",
    operationId: "deregisterNodeV2",
    summary: "Deregister a node; its in-flight tasks end with WORKER_RESET",
    tags: ["nodes"],
    auth: true,
    responses: {
      204: { description: "Deregistered" },
      400: { description: "INVALID_PARAMS: the node is connected over a live node link (it deregisters itself, or its link closes)" },
      404: { description: "NOT_FOUND: the node is not registered" },
      ...INTERNAL,
    },
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
