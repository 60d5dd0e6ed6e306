// OpenAPI 3.1 from the zod schemas: one generator, fed an operations list, so the served
// /v2/openapi.json and docs/openapi.json cannot drift from what the handlers validate.
// Conventions applied to every operation (so each spec stays short):
//   - X-Correlation-Id: optional request header, present on every response (docs/contract.md#endpoints);
//   - a status >= 400 without a schema answers the ErrorEnvelope;
//   - a 429 carries Retry-After and X-Backoff-Ms (docs/contract.md#error-codes);
//   - `auth: true` requires the bearer token and adds a 401 when the spec has none.

import { z, type ZodObject, type ZodType } from "zod";
import { ErrorEnvelope } from "../../../contract/index.ts";

export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

export interface ResponseSpec {
  description: string;
  schema?: ZodType;
  /** Defaults to application/json. */
  contentType?: string;
  headers?: Record<string, { description: string; schema?: ZodType }>;
}

export interface OperationSpec {
  method: HttpMethod;
  /** OpenAPI style: /v2/tasks/{id}. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  auth?: boolean;
  /** `bodyOptional`: an empty body is accepted (and read as `{}`). */
  request?: { body?: ZodType; bodyOptional?: boolean; query?: ZodObject };
  responses: Record<number, ResponseSpec>;
}

export interface ApiInfo {
  title: string;
  /** Equals capabilities' api_version (docs/contract.md#meta). */
  version: "2.0.0";
  description?: string;
}

export interface BuildOptions {
  /** Schemas published under components.schemas by name; any use of them becomes a $ref. */
  components?: Record<string, ZodType>;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
export type OpenApiDocument = JsonObject & { openapi: "3.1.0"; info: JsonObject; paths: JsonObject; components: JsonObject };

type Side = "input" | "output";
const COMPONENT_NAME = /^[A-Za-z0-9._-]+$/;
const ANON = "__anon";
const REF = "#/components/schemas/";

export function buildOpenApi(operations: OperationSpec[], info: ApiInfo, options: BuildOptions = {}): OpenApiDocument {
  const named = new Map<ZodType, string>([[ErrorEnvelope, "ErrorEnvelope"]]);
  for (const [name, schema] of Object.entries(options.components ?? {})) {
    if (!COMPONENT_NAME.test(name)) throw new Error(`component name ${JSON.stringify(name)} is not a valid OpenAPI key`);
    if ([...named.values()].includes(name) && named.get(schema) !== name) throw new Error(`component ${name} is defined twice`);
    named.set(schema, name);
  }
  const sides = { input: new SchemaSide("input", named), output: new SchemaSide("output", named) };

  // First pass: every schema an operation uses, so each side converts once with shared refs.
  sides.output.use(ErrorEnvelope); // the default body of every error response
  for (const op of operations) {
    if (op.request?.body) sides.input.use(op.request.body);
    for (const field of Object.values(op.request?.query?.shape ?? {})) sides.input.use(field as ZodType);
    for (const r of Object.values(op.responses)) {
      if (r.schema) sides.output.use(r.schema);
      for (const h of Object.values(r.headers ?? {})) if (h.schema) sides.output.use(h.schema);
    }
  }
  const schemas = mergeSides(sides.input.convert(), sides.output.convert());

  const paths: JsonObject = {};
  const seen = new Set<string>();
  for (const op of operations) {
    const key = `${op.method.toUpperCase()} ${op.path}`;
    if (seen.has(key)) throw new Error(`${key} is described twice`);
    if (seen.has(op.operationId)) throw new Error(`operationId ${op.operationId} is not unique`);
    seen.add(key).add(op.operationId);
    const item = (paths[op.path] ??= {}) as JsonObject;
    item[op.method] = operation(op, schemas);
  }

  return {
    openapi: "3.1.0",
    info: { title: info.title, version: info.version, ...(info.description ? { description: info.description } : {}) },
    paths,
    components: {
      schemas: sortKeys(schemas.components),
      parameters: { XCorrelationId: { name: "X-Correlation-Id", in: "header", required: false, description: "Echoed when valid, else generated.", schema: { type: "string", pattern: "^[A-Za-z0-9._:-]{1,128}$" } } },
      headers: {
        XCorrelationId: { description: "The request's correlation id (echoed or generated).", schema: { type: "string" } },
        RetryAfter: { description: "Whole seconds to wait, at least 1.", schema: { type: "integer", minimum: 1 } },
        XBackoffMs: { description: "Milliseconds to wait; equals retry_after_ms.", schema: { type: "integer", minimum: 0 } },
      },
      securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", description: "LLORCH_API_TOKEN" } },
    },
  };
}

function operation(op: OperationSpec, schemas: Merged): JsonObject {
  const parameters: Json[] = [{ $ref: "#/components/parameters/XCorrelationId" }];
  for (const name of pathParams(op.path)) parameters.push({ name, in: "path", required: true, schema: { type: "string" } });
  for (const [name, field] of Object.entries(op.request?.query?.shape ?? {})) {
    const schema = structuredClone(schemas.use("input", field as ZodType)) as JsonObject;
    const description = schema.description;
    delete schema.description;
    // Absent is fine when the field is optional or has a default (zod's optin flag differs between the two).
    const required = !(field as ZodType).safeParse(undefined).success;
    parameters.push({ name, in: "query", required, ...(typeof description === "string" ? { description } : {}), schema });
  }
  const responses: JsonObject = {};
  const specs: Record<number, ResponseSpec> = { ...op.responses };
  if (op.auth && !specs[401]) specs[401] = { description: "Missing, malformed (MISSING_TOKEN) or wrong (BAD_TOKEN) bearer token" };
  for (const status of Object.keys(specs).map(Number).sort((a, b) => a - b)) {
    responses[String(status)] = response(status, specs[status]!, schemas);
  }
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(op.tags?.length ? { tags: op.tags } : {}),
    security: op.auth ? [{ bearerAuth: [] }] : [],
    parameters,
    ...(op.request?.body ? { requestBody: { required: !op.request.bodyOptional, content: { "application/json": { schema: schemas.use("input", op.request.body) } } } } : {}),
    responses,
  };
}

function response(status: number, spec: ResponseSpec, schemas: Merged): JsonObject {
  const headers: JsonObject = { "X-Correlation-Id": { $ref: "#/components/headers/XCorrelationId" } };
  if (status === 429) {
    headers["Retry-After"] = { $ref: "#/components/headers/RetryAfter" };
    headers["X-Backoff-Ms"] = { $ref: "#/components/headers/XBackoffMs" };
  }
  for (const [name, h] of Object.entries(spec.headers ?? {})) {
    headers[name] = { description: h.description, schema: h.schema ? schemas.use("output", h.schema) : { type: "string" } };
  }
  const schema = spec.schema ?? (status >= 400 ? ErrorEnvelope : undefined);
  const out: JsonObject = { description: spec.description, headers };
  if (schema) out.content = { [spec.contentType ?? "application/json"]: { schema: schemas.use("output", schema) } };
  return out;
}

/** The file form (docs/openapi.json): two-space indent, trailing newline; key order is the build's. */
export function renderOpenApi(doc: OpenApiDocument): string {
  return JSON.stringify(doc, null, 2) + "\n";
}

/** `{name}` segments of an OpenAPI path, in order. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
}

/** One conversion side: zod's registry conversion gives shared $refs between named schemas. */
class SchemaSide {
  private readonly anon = new Map<ZodType, string>();
  /** Ids an operation uses directly: where reachability starts. */
  private readonly roots = new Set<string>();
  constructor(
    readonly side: Side,
    private readonly named: Map<ZodType, string>,
  ) {}

  use(schema: ZodType): void {
    if (!this.named.has(schema) && !this.anon.has(schema)) this.anon.set(schema, `${ANON}${this.anon.size}`);
    this.roots.add(this.idOf(schema));
  }

  idOf(schema: ZodType): string {
    const id = this.named.get(schema) ?? this.anon.get(schema);
    if (id === undefined) throw new Error("schema was not collected before conversion");
    return id;
  }

  convert(): Converted {
    const registry = z.registry<{ id: string }>();
    for (const [schema, id] of this.named) registry.add(schema, { id });
    for (const [schema, id] of this.anon) registry.add(schema, { id });
    const out = z.toJSONSchema(registry, { io: this.side, unrepresentable: "any", uri: (id) => `#${this.side}/${id}` }) as { schemas: Record<string, JsonObject> };
    const defs: Record<string, JsonObject> = {};
    for (const [id, schema] of Object.entries(out.schemas)) defs[id] = tidy(schema, this.side) as JsonObject;
    return { side: this.side, defs, roots: [...this.roots], idOf: (s) => this.idOf(s) };
  }
}

interface Converted {
  side: Side;
  defs: Record<string, JsonObject>;
  roots: string[];
  idOf(schema: ZodType): string;
}

interface Merged {
  components: Record<string, JsonObject>;
  /** The schema (a $ref or an inlined one) to put where an operation uses `schema`. */
  use(side: Side, schema: ZodType): Json;
}

/**
 * Names reachable from responses keep their name; reachable only from requests likewise. A named
 * schema that reads differently as input (defaults make fields optional) and as output is
 * published twice, the input one as `<Name>Input`. Anonymous schemas are inlined where used.
 */
function mergeSides(input: Converted, output: Converted): Merged {
  const reach = (c: Converted) => reachable(c, c.roots);
  const fromInput = reach(input);
  const fromOutput = reach(output);
  const inputName = (id: string) =>
    fromOutput.has(id) && fromInput.has(id) && !deepEqual(output.defs[id], input.defs[id]) ? `${id}Input` : id;

  const resolve = (c: Converted, node: Json): Json => {
    if (Array.isArray(node)) return node.map((n) => resolve(c, n));
    if (node === null || typeof node !== "object") return node;
    const ref = node.$ref;
    if (typeof ref === "string" && ref.startsWith(`#${c.side}/`)) {
      const id = ref.slice(c.side.length + 2);
      if (id.startsWith(ANON)) return resolve(c, c.defs[id]!);
      return { ...node, $ref: REF + (c.side === "input" ? inputName(id) : id) };
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolve(c, v)]));
  };

  const components: Record<string, JsonObject> = {};
  for (const id of Object.keys(output.defs)) {
    if (id.startsWith(ANON)) continue;
    // Unused components are still published (they were named on purpose), as output.
    if (fromOutput.has(id) || !fromInput.has(id)) components[id] = resolve(output, output.defs[id]!) as JsonObject;
    if (inputName(id) !== id && output.defs[inputName(id)]) throw new Error(`component ${inputName(id)} clashes with the input form of ${id}`);
    if (fromInput.has(id) && !components[inputName(id)]) components[inputName(id)] = resolve(input, input.defs[id]!) as JsonObject;
  }
  const sideOf = { input, output };
  return {
    components,
    use: (side, schema) => {
      const c = sideOf[side];
      return resolve(c, { $ref: `#${side}/${c.idOf(schema)}` });
    },
  };
}

/** Ids reachable from the roots (themselves included), following $refs of one side. */
function reachable(c: Converted, roots: string[]): Set<string> {
  const found = new Set<string>(roots);
  const visit = (node: Json): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== "object") return;
    const ref = node.$ref;
    if (typeof ref === "string" && ref.startsWith(`#${c.side}/`)) {
      const id = ref.slice(c.side.length + 2);
      if (!found.has(id)) {
        found.add(id);
        visit(c.defs[id] ?? null);
      }
    }
    Object.values(node).forEach(visit);
  };
  for (const root of roots) visit(c.defs[root] ?? null);
  return found;
}

/**
 * Drops what zod adds for standalone documents ($schema, $id) and noise: the ±2^53 bounds of
 * every `.int()`, and, on the output side, `additionalProperties: false` (responses may gain
 * fields; clients must not be told to reject them).
 */
function tidy(node: Json, side: Side): Json {
  if (Array.isArray(node)) return node.map((n) => tidy(n, side));
  if (node === null || typeof node !== "object") return node;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "$schema" || k === "$id") continue;
    if (k === "minimum" && v === Number.MIN_SAFE_INTEGER) continue;
    if (k === "maximum" && v === Number.MAX_SAFE_INTEGER) continue;
    if (k === "additionalProperties" && v === false && side === "output") continue;
    out[k] = tidy(v, side);
  }
  return out;
}

function sortKeys<T extends Json>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Hono's `/x/:id{[0-9]+}` → OpenAPI's `/x/{id}`. */
export function honoToOpenApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?\??/g, "{$1}");
}

/**
 * Routes the app serves without an operation, and operations without a route, as "GET /path".
 * Middleware (hono registers `use` and `mount` as method ALL) is not a route. `ignore` names
 * routes left out on purpose (e.g. "GET /v2/nodes/link", the node agents' internal socket).
 */
export function checkRoutesDocumented(
  app: { routes: ReadonlyArray<{ method: string; path: string }> },
  operations: OperationSpec[],
  ignore: readonly string[] = [],
): { undocumented: string[]; unrouted: string[] } {
  const skip = new Set(ignore);
  const routes = new Set(app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method.toUpperCase()} ${honoToOpenApiPath(r.path)}`));
  const documented = new Set(operations.map((op) => `${op.method.toUpperCase()} ${op.path}`));
  for (const s of skip) {
    routes.delete(s);
    documented.delete(s);
  }
  return {
    undocumented: [...routes].filter((r) => !documented.has(r)).sort(),
    unrouted: [...documented].filter((d) => !routes.has(d)).sort(),
  };
}
