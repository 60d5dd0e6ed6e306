// Catalog routes over the real catalog actor and state store in a temp directory: every success
// shape and every error code each endpoint returns, reached for real (real files hashed, a real
// store write failing).

import { afterEach, beforeEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { ActorSystem, createLogger, SimClock } from "../../runtime/index.ts";
import { catalogActor, createCatalogPort, type CatalogMsg, type CatalogReplies } from "../../actors/control/catalog/index.ts";
import type { NodeInfo } from "../../contract/index.ts";
import { registerCatalogRoutes } from "../../adapters/http/routes/catalog.ts";
import { openSqliteStore, type SqliteStateStore } from "../../adapters/storage/sqlite-store.ts";

let dir: string;
let system: ActorSystem;
let store: SqliteStateStore;
let app: Hono;

const nodes: NodeInfo[] = [
  {
    node_id: "n1",
    address: "http://10.0.0.1:9200",
    linked: true,
    status: "Online",
    registered_at_ms: 0,
    last_heartbeat_ms: 0,
    pools: [{ pool_id: "p0", ready: true, draining: false, engine: "mock", slots_total: 4, slots_free: 4, models_available: ["tiny"] }],
  },
];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "catalog-routes-"));
  const clock = new SimClock(1_700_000_000_000);
  system = new ActorSystem({ name: "catalog-routes", clock });
  store = await openSqliteStore({ dir: join(dir, "state"), retention: { maxAgeMs: 1e12, maxBytes: 1e12, intervalMs: 0 } });
  const catalog = await system.spawn<CatalogMsg, CatalogReplies>(
    "control/catalog",
    catalogActor({ store, baseDir: dir, log: createLogger({ clock, sink: () => {} }) }),
  );
  app = new Hono();
  registerCatalogRoutes(app, createCatalogPort({ catalog, nodes: async () => nodes }));
});
afterEach(async () => {
  await system.shutdown();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Responses whose JSON the assertions inspect freely. */
type JsonResponse = Omit<Response, "json"> & { json(): Promise<any> };
const req = (path: string, init?: RequestInit) => app.request(path, init) as Promise<JsonResponse>;
const sha = (data: string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  req(path, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });
const enc = encodeURIComponent;

test("POST registers (201), re-POST replaces (200), GET and list return the entry", async () => {
  const res = await post("/v2/catalog/models", { id: "tiny", digest: sha("w"), source_url: "file:///models/tiny.gguf", tags: ["q4"] });
  expect(res.status).toBe(201);
  const entry = await res.json();
  expect(entry).toEqual({
    id: "tiny",
    digest: sha("w"),
    source_url: "file:///models/tiny.gguf",
    tags: ["q4"],
    manifests: [],
    signatures: [],
    lifecycle: "Active",
    created_ms: 1_700_000_000_000,
    updated_ms: 1_700_000_000_000,
  });
  expect((await req("/v2/catalog/models/tiny")).status).toBe(200);
  expect(await (await req("/v2/catalog/models/tiny")).json()).toEqual(entry);

  const again = await post("/v2/catalog/models", { id: "tiny", tags: ["fp16"] });
  expect(again.status).toBe(200);
  expect(await again.json()).toMatchObject({ id: "tiny", tags: ["fp16"], lifecycle: "Active" });
  expect(await (await req("/v2/catalog/models")).json()).toMatchObject({ count: 1, models: [{ id: "tiny", tags: ["fp16"] }] });
});

test("ids may hold slashes and colons when percent-encoded in the path", async () => {
  const id = "hf:org/repo/model.gguf";
  expect((await post("/v2/catalog/models", { id, source_url: id })).status).toBe(201);
  expect(await (await req(`/v2/catalog/models/${enc(id)}`)).json()).toMatchObject({ id });
  expect((await req(`/v2/catalog/models/${enc(id)}`, { method: "DELETE" })).status).toBe(204);
});

test("POST refuses bad input with INVALID_PARAMS", async () => {
  const cases: [unknown, string][] = [
    [{}, "id required"],
    [{ id: "" }, "id required"],
    [{ id: " padded" }, "surrounding spaces"],
    [{ id: "m", digest: "sha256:XYZ" }, "digest"],
    [{ id: "m", digest: { algo: "sha256", value: "a".repeat(64) } }, "digest"],
    [{ id: "m", signed: false }, "signed"],
    [{ id: "m", trust_policy: { mode: "paranoid" } }, "trust_policy.mode"],
    [{ id: "m", manifests: [{ digest: sha("x"), size_bytes: -1 }] }, "manifests.0.size_bytes"],
    [[], "body"],
    ["{not json", "not valid JSON"],
  ];
  for (const [body, words] of cases) {
    const res = await post("/v2/catalog/models", body);
    expect(res.status).toBe(400);
    const err = await res.json();
    expect(err.code).toBe("INVALID_PARAMS");
    expect(err.message).toContain(words);
  }
  const text = await req("/v2/catalog/models", { method: "POST", headers: { "Content-Type": "text/plain" }, body: '{"id":"m"}' });
  expect(text.status).toBe(400);
  expect(await text.json()).toEqual({ code: "INVALID_PARAMS", message: "Content-Type must be application/json" });
  const header = await post("/v2/catalog/models", { id: "m" }, { "X-Trust-Policy": "sometimes" });
  expect(await header.json()).toEqual({ code: "INVALID_PARAMS", message: "X-Trust-Policy must be strict or permissive" });
  expect(await (await req("/v2/catalog/models")).json()).toEqual({ models: [], count: 0 });
});

test("strict trust without a verified signature is 400 UNTRUSTED_ARTIFACT; with one it is registered", async () => {
  const strict = await post("/v2/catalog/models", { id: "u" }, { "X-Trust-Policy": "strict" });
  expect(strict.status).toBe(400);
  expect(await strict.json()).toMatchObject({ code: "UNTRUSTED_ARTIFACT", message: expect.stringContaining("verified signature") });
  const body = await post("/v2/catalog/models", { id: "u", trust_policy: { mode: "strict", require_signature: true }, signatures: [{ signer: "a", algo: "ed25519", verified: false, timestamp_ms: 1 }] });
  expect(body.status).toBe(400);
  expect((await body.json()).code).toBe("UNTRUSTED_ARTIFACT");
  expect((await req("/v2/catalog/models/u")).status).toBe(404);
  const signed = await post("/v2/catalog/models", { id: "u", signatures: [{ signer: "a", algo: "ed25519", verified: true, timestamp_ms: 1 }] }, { "X-Trust-Policy": "strict" });
  expect(signed.status).toBe(201);
});

test("GET and DELETE of unknown ids are 404 NOT_FOUND; DELETE is 204 and the entry is gone", async () => {
  const missing = await req("/v2/catalog/models/nope");
  expect(missing.status).toBe(404);
  expect(await missing.json()).toEqual({ code: "NOT_FOUND", message: "model nope not found" });
  expect((await req("/v2/catalog/models/nope", { method: "DELETE" })).status).toBe(404);
  await post("/v2/catalog/models", { id: "m" });
  const del = await req("/v2/catalog/models/m", { method: "DELETE" });
  expect(del.status).toBe(204);
  expect(await del.text()).toBe("");
  expect((await req("/v2/catalog/models/m")).status).toBe(404);
});

test("verify hashes the local file: 202 pass, 400 UNTRUSTED_ARTIFACT on mismatch, 202 fail when missing, 404 unknown", async () => {
  const file = join(dir, "tiny.gguf");
  writeFileSync(file, "tiny weights");
  await post("/v2/catalog/models", { id: "ok", digest: sha("tiny weights"), source_url: `file://${file}` });
  const pass = await req("/v2/catalog/models/ok/verify", { method: "POST" });
  expect(pass.status).toBe(202);
  expect(await pass.json()).toEqual({
    id: "ok",
    result: "pass",
    reason: "digest_match",
    expected_digest: sha("tiny weights"),
    actual_digest: sha("tiny weights"),
    warnings: ["no verified signature", "no SBOM"],
    last_verified_ms: 1_700_000_000_000,
  });
  expect(await (await req("/v2/catalog/models/ok")).json()).toMatchObject({ last_verified_ms: 1_700_000_000_000, last_verify_result: "pass" });

  await post("/v2/catalog/models", { id: "wrong", digest: sha("something else"), source_url: "tiny.gguf" });
  const mismatch = await req("/v2/catalog/models/wrong/verify", { method: "POST" });
  expect(mismatch.status).toBe(400);
  expect(await mismatch.json()).toEqual({
    code: "UNTRUSTED_ARTIFACT",
    message: `model wrong: digest mismatch: expected ${sha("something else")}, actual ${sha("tiny weights")}`,
    id: "wrong",
    expected_digest: sha("something else"),
    actual_digest: sha("tiny weights"),
  });
  expect(await (await req("/v2/catalog/models/wrong")).json()).toMatchObject({ last_verify_result: "fail", last_verify_reason: "digest_mismatch" });

  await post("/v2/catalog/models", { id: "absent", digest: sha("x"), source_url: join(dir, "absent.gguf") });
  const absent = await req("/v2/catalog/models/absent/verify", { method: "POST" });
  expect(absent.status).toBe(202);
  expect(await absent.json()).toMatchObject({ id: "absent", result: "fail", reason: "file_missing", detail: `no file at ${join(dir, "absent.gguf")}` });

  const unknown = await req("/v2/catalog/models/ghost/verify", { method: "POST" });
  expect(unknown.status).toBe(404);
  expect((await unknown.json()).code).toBe("NOT_FOUND");
});

test("state: 202 with the transition, 400 for a bad state or deadline, 404 for an unknown id", async () => {
  await post("/v2/catalog/models", { id: "m" });
  const retire = await post("/v2/catalog/models/m/state", { state: "Retired", deadline_ms: 30_000 });
  expect(retire.status).toBe(202);
  expect(await retire.json()).toEqual({ id: "m", state: "Retired", previous: "Active", changed: true, deadline_ms: 30_000 });
  expect(await (await req("/v2/catalog/models/m")).json()).toMatchObject({ lifecycle: "Retired" });

  const bad = await post("/v2/catalog/models/m/state", { state: "Deprecated" });
  expect(bad.status).toBe(400);
  expect(await bad.json()).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining("state") });
  expect((await (await post("/v2/catalog/models/m/state", { state: "Active", extra: 1 })).json()).code).toBe("INVALID_PARAMS");
  expect((await (await post("/v2/catalog/models/m/state", "nope")).json()).code).toBe("INVALID_PARAMS");
  const deadline = await post("/v2/catalog/models/m/state", { state: "Active", deadline_ms: 0 });
  expect(deadline.status).toBe(400);
  expect(await deadline.json()).toEqual({ code: "DEADLINE_UNMET", message: "deadline_ms must be positive" });
  expect(await (await req("/v2/catalog/models/m")).json()).toMatchObject({ lifecycle: "Retired" });

  const unknown = await post("/v2/catalog/models/ghost/state", { state: "Active" });
  expect(unknown.status).toBe(404);
  expect(await unknown.json()).toEqual({ code: "NOT_FOUND", message: "model ghost not found" });
});

test("a failed store write is 500 INTERNAL and leaves the catalog unchanged", async () => {
  await post("/v2/catalog/models", { id: "kept" });
  await store.close(); // every later write fails
  const res = await post("/v2/catalog/models", { id: "new" });
  expect(res.status).toBe(500);
  expect(await res.json()).toEqual({ code: "INTERNAL", message: "could not write the catalog index" });
  expect((await req("/v2/catalog/models/new")).status).toBe(404);
  expect((await (await post("/v2/catalog/models/kept/state", { state: "Retired" })).json()).code).toBe("INTERNAL");
  expect((await req("/v2/catalog/models/kept", { method: "DELETE" })).status).toBe(500);
  expect(await (await req("/v2/catalog/models/kept")).json()).toMatchObject({ lifecycle: "Active" });
});

test("availability returns both shapes from the node list", async () => {
  const res = await req("/v2/catalog/availability");
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({
    models: [{ model_id: "tiny", nodes: ["n1"], total_nodes: 1, total_capacity: 4 }],
    nodes: { n1: { node_id: "n1", address: "http://10.0.0.1:9200", online: true, models: ["tiny"], pools: [{ pool_id: "p0", ready: true, models: ["tiny"] }] } },
    total_models: 1,
    replicated_models: [],
    single_node_models: ["tiny"],
  });
});
