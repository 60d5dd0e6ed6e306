// Artifact routes over the real artifact actor and state store in a temp directory: content-addressed 201,
// idempotent re-posts, the stored document on GET, and each error the endpoints return.

import { afterEach, beforeEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import { ActorSystem, createLogger, SimClock } from "../../runtime/index.ts";
import { artifactsActor, createArtifactsPort, type ArtifactsMsg, type ArtifactsReplies } from "../../actors/control/artifacts/index.ts";
import { fail } from "../../adapters/http/errors.ts";
import { registerArtifactRoutes } from "../../adapters/http/routes/artifacts.ts";
import { openSqliteStore, type SqliteStateStore } from "../../adapters/storage/sqlite-store.ts";

let dir: string;
let system: ActorSystem;
let store: SqliteStateStore;
let clock: SimClock;
let app: Hono;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "artifact-routes-"));
  clock = new SimClock(1_700_000_000_000);
  system = new ActorSystem({ name: "artifact-routes", clock });
  store = await openSqliteStore({ dir, retention: { maxAgeMs: 1e12, maxBytes: 1e12, intervalMs: 0 } });
  const artifacts = await system.spawn<ArtifactsMsg, ArtifactsReplies>("control/artifacts", artifactsActor({ store, log: createLogger({ clock, sink: () => {} }) }));
  app = new Hono();
  registerArtifactRoutes(app, createArtifactsPort(artifacts));
  // As control-app does: anything thrown becomes the INTERNAL envelope.
  app.onError((_e, c) => fail(c, "INTERNAL", "internal error"));
});
afterEach(async () => {
  await system.shutdown();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Responses whose JSON the assertions inspect freely. */
type JsonResponse = Omit<Response, "json"> & { json(): Promise<any> };
const req = (path: string, init?: RequestInit) => app.request(path, init) as Promise<JsonResponse>;
const post = (body: unknown, type = "application/json") =>
  req("/v2/artifacts", { method: "POST", headers: { "Content-Type": type }, body: typeof body === "string" ? body : JSON.stringify(body) });

test("POST is 201 with a ref whose id is the SHA-256 of the canonical JSON; re-posting returns the same ref", async () => {
  const doc = { kind: "plan", content: { steps: ["fetch", "load"], b: 1 }, tags: ["t"] };
  const res = await post(doc);
  expect(res.status).toBe(201);
  const id = createHash("sha256").update('{"content":{"b":1,"steps":["fetch","load"]},"kind":"plan","tags":["t"]}').digest("hex");
  const ref = await res.json();
  expect(ref).toEqual({ id, kind: "plan", digest: `sha256:${id}`, created_ms: 1_700_000_000_000, tags: ["t"] });
  expect(res.headers.get("Location")).toBe(`/v2/artifacts/${id}`);

  await clock.advance(60_000);
  const again = await post('{"tags":["t"],"content":{"b":1,"steps":["fetch","load"]},"kind":"plan"}');
  expect(again.status).toBe(201);
  expect(await again.json()).toEqual(ref);
});

test("GET returns the stored document; unknown and malformed ids are 404 NOT_FOUND", async () => {
  const ref = await (await post({ kind: "trace", content: { transcript: [{ type: "end" }] }, parent: null, metadata: { pool_id: "p0" } })).json();
  const res = await req(`/v2/artifacts/${ref.id}`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ ...ref, parent: null, metadata: { pool_id: "p0" }, content: { transcript: [{ type: "end" }] } });
  expect((await req(`/v2/artifacts/${ref.id.toUpperCase()}`)).status).toBe(200);

  const unknown = await req(`/v2/artifacts/${"0".repeat(64)}`);
  expect(unknown.status).toBe(404);
  expect(await unknown.json()).toEqual({ code: "NOT_FOUND", message: `artifact ${"0".repeat(64)} not found` });
  for (const bad of ["abc", "..%2F..%2Fetc%2Fpasswd", "g".repeat(64)]) {
    const r = await req(`/v2/artifacts/${bad}`);
    expect(r.status).toBe(404);
    expect((await r.json()).code).toBe("NOT_FOUND");
  }
});

test("POST refuses bad documents with 400 INVALID_PARAMS", async () => {
  const cases: [unknown, string][] = [
    [{ kind: "poem", content: {} }, "kind"],
    [{ content: {} }, "kind"],
    [{ kind: "plan" }, "content"],
    [{ kind: "plan", content: [1, 2] }, "content"],
    [{ kind: "plan", content: "text" }, "content"],
    [{ kind: "plan", content: {}, extra: true }, "extra"],
    [{ kind: "plan", content: {}, tags: "t" }, "tags"],
    ["{oops", "not valid JSON"],
  ];
  for (const [body, words] of cases) {
    const res = await post(body);
    expect(res.status).toBe(400);
    const err = await res.json();
    expect(err.code).toBe("INVALID_PARAMS");
    expect(err.message).toContain(words);
  }
  const text = await post({ kind: "plan", content: {} }, "text/plain");
  expect(await text.json()).toEqual({ code: "INVALID_PARAMS", message: "Content-Type must be application/json" });
});

test("an unreadable stored artifact is 500 INTERNAL, not a 404", async () => {
  const id = "a".repeat(64);
  const db = new Database(join(dir, "state.db"));
  db.run("INSERT INTO artifacts (id, kind, created_ms, tags, bytes, doc) VALUES (?, 'plan', 1, '[]', 5, '{torn')", [id]);
  db.close();
  const res = await req(`/v2/artifacts/${id}`);
  expect(res.status).toBe(500);
  expect(await res.json()).toEqual({ code: "INTERNAL", message: "internal error" });
});
