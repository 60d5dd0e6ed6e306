// The generated OpenAPI document: it covers every route of the control plane as run.ts builds
// it (and nothing else), docs/openapi.json is current, every operation is complete (ids, tags,
// bodies, error envelopes, limits); then the generator's own rules and the route checker.

import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Hono } from "hono";
import { Registry } from "prom-client";
import { z } from "zod";
import { createLogger, SimClock } from "../../../runtime/index.ts";
import { createControlApp } from "../control-app.ts";
import { buildOpenApi, checkRoutesDocumented, honoToOpenApiPath, pathParams, renderOpenApi, type Json, type OperationSpec } from "./generator.ts";
import { buildControlOpenApi, controlOperations } from "./control-api.ts";
import type { ControlPort } from "../../../contract/index.ts";
import { areaRoutes, type AreaPorts } from "../routes/index.ts";
import { NODE_LINK_PATH, serve, type HttpServer } from "../server.ts";

type Obj = Record<string, any>;

/** Every `$ref` in the document, with the JSON pointer it names resolved (undefined when dangling). */
function refs(doc: Json): Array<{ ref: string; target: unknown }> {
  const out: Array<{ ref: string; target: unknown }> = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== "object") return;
    const ref = (node as Obj).$ref;
    if (typeof ref === "string") {
      const target = ref.startsWith("#/")
        ? ref
            .slice(2)
            .split("/")
            .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
            .reduce<unknown>((at, key) => (at && typeof at === "object" ? (at as Obj)[key] : undefined), doc)
        : undefined;
      out.push({ ref, target });
    }
    Object.values(node).forEach(visit);
  };
  visit(doc);
  return out;
}

const operations = (doc: Obj) =>
  Object.entries(doc.paths as Obj).flatMap(([path, item]) => Object.entries(item as Obj).map(([method, op]) => ({ path, method, op: op as Obj })));

/**
 * The control app as actors/control/run.ts assembles it, plus the pools routes, over ports that are
 * never called (registering reads only the route table). serve() adds /v2/ws and the node link.
 */
function assembleControlApp() {
  const log = createLogger({ clock: new SimClock(), sink: () => {} });
  const app = createControlApp({
    port: {} as ControlPort,
    registry: new Registry(),
    log,
    version: "test",
    routes: areaRoutes({} as AreaPorts),
  });
  const server = serve({ app, hostname: "127.0.0.1", port: 0, log, onNodeLink: () => {}, clientWs: { port: {} as ControlPort } });
  return { app, server };
}

const isError = (status: string) => Number(status) >= 400;
const resolve = (doc: Obj, schema: Obj): Obj => (schema.$ref ? doc.components.schemas[String(schema.$ref).split("/").pop()!] : schema);
/** The ErrorEnvelope itself, or (named or inline) an allOf that extends it. */
const isEnvelope = (doc: Obj, schema: Obj) =>
  schema.$ref === "#/components/schemas/ErrorEnvelope" || resolve(doc, schema).allOf?.[0]?.$ref === "#/components/schemas/ErrorEnvelope";

describe("the control plane's document", () => {
  const doc = buildControlOpenApi() as Obj;
  const servers: HttpServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
  });

  test("covers every route of the assembled control plane, and every operation has a route", () => {
    const { app, server } = assembleControlApp();
    servers.push(server);
    const paths = app.routes.map((r) => r.path);
    expect(paths).toEqual(expect.arrayContaining(["/v2/ws", NODE_LINK_PATH, "/v2/pools/:id/reload", "/v2/artifacts/:id", "/v2/sessions/:id"]));
    // The node link is the agents' internal socket, not part of the client API.
    expect(checkRoutesDocumented(app, controlOperations(), [`GET ${NODE_LINK_PATH}`])).toEqual({ undocumented: [], unrouted: [] });
  });

  test("docs/openapi.json is the freshly generated document (run `bun run openapi` after changing a route or schema)", async () => {
    const file = Bun.file(join(import.meta.dir, "..", "..", "..", "docs", "openapi.json"));
    expect(await file.exists()).toBe(true);
    expect(await file.text()).toBe(renderOpenApi(buildControlOpenApi()));
  });

  test("GET /v2/openapi.json serves the same document", async () => {
    const { app, server } = assembleControlApp();
    servers.push(server);
    const res = await app.request("/v2/openapi.json");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(JSON.parse(renderOpenApi(buildControlOpenApi())));
  });

  test("is OpenAPI 3.1 with info.version 2.0.0, deterministic byte for byte", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.version).toBe("2.0.0");
    expect(renderOpenApi(buildControlOpenApi())).toBe(renderOpenApi(doc as never));
  });

  test("every $ref resolves and no conversion-internal id leaks", () => {
    const all = refs(doc as Json);
    expect(all.length).toBeGreaterThan(50);
    expect(all.filter((r) => r.target === undefined).map((r) => r.ref)).toEqual([]);
    expect(JSON.stringify(doc)).not.toContain("__anon");
    expect(JSON.stringify(doc)).not.toContain("$schema");
  });

  test("every operation has a unique operationId, a summary and tags; path parameters are declared", () => {
    const ids = operations(doc).map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(["createTaskV2", "streamTaskV2", "cancelTaskV2", "openWebSocketV2", "reloadPoolV2", "createArtifactV2"]));
    for (const { path, method, op } of operations(doc)) {
      expect(op.summary, `${method} ${path}`).toBeTruthy();
      expect(op.tags?.length, `${method} ${path}`).toBeGreaterThan(0);
      const declared = (op.parameters as Obj[]).filter((p) => p.in === "path");
      expect(declared.map((p) => p.name), `${method} ${path}`).toEqual(pathParams(path));
      expect(declared.every((p) => p.required)).toBe(true);
    }
  });

  test("every error response is the ErrorEnvelope (or extends it); only /ready's 503 is its own body", () => {
    for (const { path, method, op } of operations(doc)) {
      for (const [status, res] of Object.entries(op.responses as Obj)) {
        if (!isError(status) || (path === "/ready" && status === "503")) continue;
        const schema = (res as Obj).content?.["application/json"]?.schema;
        // The OpenAI-compatible routes answer in OpenAI's error shape (the 431 comes from control-app's middleware).
        if (path.startsWith("/v1/") && status !== "431") {
          expect(schema, `${method} ${path} ${status}`).toEqual({ $ref: "#/components/schemas/OpenAiError" });
          continue;
        }
        expect(schema && isEnvelope(doc, schema), `${method} ${path} ${status}`).toBe(true);
        expect((res as Obj).headers).toHaveProperty("X-Correlation-Id");
      }
    }
    expect(doc.components.schemas.ErrorEnvelope.required).toEqual(["code", "message"]);
    expect(doc.components.schemas.ErrorEnvelope.properties.code).toEqual({ $ref: "#/components/schemas/ErrorCode" });
  });

  test("size limits: 431 everywhere, 413 on every /v2 POST", () => {
    for (const { path, method, op } of operations(doc)) {
      expect(op.responses["431"], `${method} ${path}`).toBeDefined();
      if (path.startsWith("/v2/") && method === "post") expect(op.responses["413"], `${method} ${path}`).toBeDefined();
      if (method === "get") expect(op.responses["413"], `${method} ${path}`).toBeUndefined();
    }
  });

  test("every POST has its request body, except the two that take none; preload's and purge's are optional", () => {
    const bodiless = new Set(["/v2/tasks/{id}/cancel", "/v2/catalog/models/{id}/verify"]);
    const expected: Record<string, string> = {
      "/v2/tasks": "TaskRequestV2",
      "/v2/nodes/register": "RegisterRequest",
      "/v2/nodes/{id}/heartbeat": "HeartbeatRequest",
      "/v2/catalog/models": "CatalogModelRequestV2",
      "/v2/catalog/models/{id}/state": "CatalogStateRequest",
      "/v2/artifacts": "ArtifactV2",
      "/v2/pools/{id}/drain": "PoolDrainRequest",
      "/v2/pools/{id}/reload": "PoolReloadRequest",
      "/v2/pools/{id}/preload": "PoolPreloadRequest",
      "/v2/pools/{id}/purge": "PoolPurgeRequest",
      "/v1/chat/completions": "ChatCompletionRequest",
      "/v1/completions": "CompletionRequest",
      "/v1/embeddings": "EmbeddingsRequest",
      "/v1/responses": "ResponsesRequest",
    };
    // OpenAI's requests are loose: its clients send many fields we ignore.
    const loose = new Set(["ChatCompletionRequest", "CompletionRequest", "EmbeddingsRequest", "ResponsesRequest"]);
    for (const { path, method, op } of operations(doc)) {
      if (method !== "post") continue;
      if (bodiless.has(path)) {
        expect(op.requestBody, path).toBeUndefined();
        continue;
      }
      expect(op.requestBody?.content["application/json"].schema, path).toEqual({ $ref: `#/components/schemas/${expected[path]}` });
      expect(op.requestBody?.required, path).toBe(path !== "/v2/pools/{id}/preload" && path !== "/v2/pools/{id}/purge");
    }
    // Requests are strict: clients learn that unknown fields are refused.
    for (const name of Object.values(expected)) expect(doc.components.schemas[name].additionalProperties, name).toEqual(loose.has(name) ? {} : false);
    expect(doc.components.schemas.TaskRequestV2.required).toEqual(["model_ref", "max_tokens"]);
    expect(doc.components.schemas.PoolReloadRequest.required).toEqual(["new_model_ref"]);
  });

  test("POST /v2/tasks: 202 with budget headers, 429 with Retry-After, X-Backoff-Ms and the retry fields", () => {
    const create = doc.paths["/v2/tasks"].post;
    expect(Object.keys(create.responses)).toEqual(["202", "400", "401", "413", "429", "431", "500", "503"]);
    const budget = ["X-Budget-Tokens-Remaining", "X-Budget-Time-Remaining-Ms", "X-Budget-Cost-Remaining"];
    expect(Object.keys(create.responses["202"].headers)).toEqual(expect.arrayContaining(budget));
    const tooMany = create.responses["429"];
    expect(Object.keys(tooMany.headers)).toEqual(expect.arrayContaining(["Retry-After", "X-Backoff-Ms", "X-Correlation-Id"]));
    const retryable = resolve(doc, tooMany.content["application/json"].schema);
    expect(retryable.allOf[0]).toEqual({ $ref: "#/components/schemas/ErrorEnvelope" });
    expect(retryable.allOf[1].required).toEqual(["retriable", "retry_after_ms", "policy_label"]);
    expect(Object.keys(doc.paths["/v2/tasks/{id}/events"].get.responses["200"].headers)).toEqual(expect.arrayContaining(budget));
  });

  test("events are text/event-stream frames of the StreamEvent payloads", () => {
    const events = doc.paths["/v2/tasks/{id}/events"].get;
    expect(events.responses["200"].content["text/event-stream"].schema).toEqual({ $ref: "#/components/schemas/StreamFrame" });
    const frames = doc.components.schemas.StreamFrame.oneOf as Obj[];
    expect(frames.map((f) => f.properties.event.const)).toEqual(["started", "token", "metrics", "end", "error"]);
    expect(frames.at(-1)!.properties.data).toEqual({ $ref: "#/components/schemas/ErrorEnvelope" });
    expect(doc.components.schemas.EndData.required).toEqual(["tokens_out", "decode_time_ms", "decode_ms"]);
    const verbose = (events.parameters as Obj[]).find((p) => p.name === "verbose")!;
    expect(verbose).toMatchObject({ in: "query", required: false, schema: { enum: ["true", "false"], default: "false" } });
  });

  test("GET /v2/ws: a 101 without a body, the token optional at the upgrade, the frame protocol described", () => {
    const ws = doc.paths["/v2/ws"].get;
    expect(Object.keys(ws.responses)).toEqual(["101", "400", "401", "431"]);
    expect(ws.responses["101"].content).toBeUndefined();
    expect(Object.keys(ws.responses["101"].headers)).toEqual(expect.arrayContaining(["Upgrade", "Sec-WebSocket-Accept"]));
    expect(ws.security).toEqual([{ bearerAuth: [] }, {}]);
    for (const word of ['"auth"', '"submit"', '"subscribe"', '"cancel"', '"admitted"', '"rejected"', '"canceled"', "detach:true", "1008", "1009", "1013"]) {
      expect(ws.description).toContain(word);
    }
    const server = (doc.components.schemas.WsServerFrame.anyOf as Obj[]).map((f) => f.properties.type.const);
    expect(server).toEqual(["admitted", "rejected", "canceled", "started", "token", "metrics", "end", "error", "error"]);
    const client = (doc.components.schemas.WsClientFrame.oneOf as Obj[]).map((f) => f.properties.type.const);
    expect(client).toEqual(["auth", "submit", "subscribe", "cancel"]);
  });

  test("catalog, artifacts, pools: their statuses, bodies and the X-Trust-Policy header", () => {
    const codes = (path: string, method: string) => Object.keys(doc.paths[path][method].responses);
    expect(codes("/v2/catalog/models", "post")).toEqual(["200", "201", "400", "401", "413", "431", "500"]);
    expect(codes("/v2/catalog/models/{id}/verify", "post")).toEqual(["202", "400", "401", "404", "413", "431", "500"]);
    expect(codes("/v2/artifacts", "post")).toEqual(["201", "400", "401", "413", "431", "500"]);
    expect(codes("/v2/sessions/{id}", "delete")).toEqual(["204", "401", "431", "500"]);
    expect(codes("/v2/pools/{id}/drain", "post")).toEqual(["202", "400", "401", "404", "409", "413", "431", "500", "503"]);
    expect(codes("/v2/pools/{id}/reload", "post")).toEqual(["200", "400", "401", "404", "409", "413", "431", "500", "503"]);
    const trust = (doc.paths["/v2/catalog/models"].post.parameters as Obj[]).find((p) => p.name === "X-Trust-Policy");
    expect(trust).toMatchObject({ in: "header", required: false, schema: { enum: ["strict", "permissive"] } });
    expect(doc.paths["/v2/artifacts"].post.responses["201"].headers).toHaveProperty("Location");
    const conflict = resolve(doc, doc.paths["/v2/pools/{id}/reload"].post.responses["409"].content["application/json"].schema);
    expect(conflict.allOf[1].properties.nodes.items).toEqual({ $ref: "#/components/schemas/PoolReloadNodeV2" });
    const health = (doc.paths["/v2/pools/{id}/health"].get.parameters as Obj[]).find((p) => p.name === "node_id");
    expect(health).toMatchObject({ in: "query", required: false });
  });

  test("the OpenAI-compatible routes: their statuses, bodies and error shape", () => {
    const codes = (path: string, method: string) => Object.keys(doc.paths[path][method].responses);
    for (const path of ["/v1/chat/completions", "/v1/completions"]) {
      expect(codes(path, "post")).toEqual(["200", "400", "401", "404", "413", "429", "431", "500", "503"]);
      expect(doc.paths[path].post.responses["429"].headers).toHaveProperty("Retry-After");
    }
    expect(codes("/v1/models", "get")).toEqual(["200", "401", "431", "500"]);
    expect(doc.paths["/v1/chat/completions"].post.responses["200"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/ChatCompletion" });
    expect(doc.components.schemas.OpenAiError.properties.error.required).toEqual(["message", "type", "param", "code"]);
    expect(doc.components.schemas).toHaveProperty("ChatCompletionChunk");
  });

  test("ops endpoints need no token; /v2 ones do and list a 401", () => {
    for (const { path, op } of operations(doc)) {
      if (path.startsWith("/v2/") || path.startsWith("/v1/")) {
        expect(op.security[0]).toEqual({ bearerAuth: [] });
        expect(op.responses["401"]).toBeDefined();
      } else {
        expect(op.security).toEqual([]);
        expect(op.responses["401"]).toBeUndefined();
      }
    }
    expect(doc.paths["/metrics"].get.responses["200"].content).toHaveProperty(["text/plain; version=0.0.4"]);
  });
});

describe("buildOpenApi", () => {
  const info = { title: "t", version: "2.0.0" as const };

  test("a named schema that reads differently as input and output is published twice", () => {
    const Thing = z.object({ n: z.number().int().default(1), s: z.string() });
    const ops: OperationSpec[] = [
      { method: "put", path: "/things/{id}", operationId: "putThing", summary: "s", request: { body: Thing }, responses: { 200: { description: "ok", schema: Thing } } },
    ];
    const doc = buildOpenApi(ops, info, { components: { Thing } }) as Obj;
    const op = doc.paths["/things/{id}"].put;
    expect(op.requestBody.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/ThingInput" });
    expect(op.responses["200"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/Thing" });
    expect(doc.components.schemas.ThingInput.required).toEqual(["s"]);
    expect(doc.components.schemas.Thing.required).toEqual(["n", "s"]);
    expect(doc.components.schemas.Thing.properties.n).toEqual({ default: 1, type: "integer" });
  });

  test("unnamed schemas are inlined, with refs to named ones inside", () => {
    const Named = z.object({ a: z.string() });
    const ops: OperationSpec[] = [
      { method: "get", path: "/x", operationId: "x", summary: "s", responses: { 200: { description: "ok", schema: z.object({ items: z.array(Named) }) } } },
    ];
    const doc = buildOpenApi(ops, info, { components: { Named } }) as Obj;
    expect(doc.paths["/x"].get.responses["200"].content["application/json"].schema).toEqual({
      type: "object",
      properties: { items: { type: "array", items: { $ref: "#/components/schemas/Named" } } },
      required: ["items"],
    });
    expect(refs(doc as Json).every((r) => r.target !== undefined)).toBe(true);
  });

  test("refuses a duplicate route, a duplicate operationId and a bad component name", () => {
    const op: OperationSpec = { method: "get", path: "/a", operationId: "a", summary: "s", responses: { 204: { description: "none" } } };
    expect(() => buildOpenApi([op, { ...op, operationId: "b" }], info)).toThrow("described twice");
    expect(() => buildOpenApi([op, { ...op, path: "/b" }], info)).toThrow("not unique");
    expect(() => buildOpenApi([op], info, { components: { "bad name": z.string() } })).toThrow("not a valid");
  });

  test("a 204 has no content", () => {
    const doc = buildOpenApi([{ method: "delete", path: "/a", operationId: "a", summary: "s", responses: { 204: { description: "gone" } } }], info) as Obj;
    expect(doc.paths["/a"].delete.responses["204"].content).toBeUndefined();
  });
});

describe("checkRoutesDocumented", () => {
  test("reports routes without operations and operations without routes, ignoring middleware", () => {
    const app = new Hono();
    app.use(async (_c, next) => next());
    app.use("/v2/*", async (_c, next) => next());
    app.get("/v2/things/:id", (c) => c.text("x"));
    app.post("/v2/things/:id{[0-9]+}/poke", (c) => c.text("x"));
    app.get("/health", (c) => c.text("ok"));
    const ops: OperationSpec[] = [
      { method: "get", path: "/v2/things/{id}", operationId: "getThing", summary: "s", responses: { 200: { description: "ok" } } },
      { method: "delete", path: "/v2/things/{id}", operationId: "deleteThing", summary: "s", responses: { 204: { description: "ok" } } },
    ];
    expect(checkRoutesDocumented(app, ops)).toEqual({
      undocumented: ["GET /health", "POST /v2/things/{id}/poke"],
      unrouted: ["DELETE /v2/things/{id}"],
    });
    expect(checkRoutesDocumented(app, ops, ["GET /health", "DELETE /v2/things/{id}"])).toEqual({ undocumented: ["POST /v2/things/{id}/poke"], unrouted: [] });
  });

  test("hono paths become OpenAPI paths", () => {
    expect(honoToOpenApiPath("/v2/tasks/:id/events")).toBe("/v2/tasks/{id}/events");
    expect(honoToOpenApiPath("/v2/pools/:pool_id{[a-z0-9-]+}/drain")).toBe("/v2/pools/{pool_id}/drain");
    expect(honoToOpenApiPath("/health")).toBe("/health");
  });
});
