// The client contract over real processes (`bun run control` + `bun run node`, linked over
// WebSocket, a token configured): drop-lru from the environment, WebSocket with first-message
// auth, sessions, catalog with a real file, transcripts as artifacts, the OpenAPI document, and
// a /metrics scrape that has every required series.

import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkExposition } from "../../adapters/metrics/index.ts";
import { spawnService, type Service } from "../harness/process.ts";
import { collect, openSse, submitTask, type Frame } from "../harness/sse.ts";
import { openWs, type WsClient } from "../harness/ws.ts";

const TOKEN = "process-api-test-token-0123456789";
const auth = { authorization: `Bearer ${TOKEN}` };
const services: Service[] = [];
const sockets: WsClient[] = [];
let dir: string | undefined;

afterEach(async () => {
  for (const s of sockets.splice(0)) await s.close();
  for (const s of services.splice(0).reverse()) await s.stop("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function startPair() {
  dir = mkdtempSync(join(tmpdir(), "llorch-proc-api-"));
  const pools = join(dir, "pools.yaml");
  writeFileSync(pools, ["pools:", "  - id: p0", "    engine: mock", "    model: tiny", "    slots: 1", "    allow_cpu: true", "    mock:", "      token_delay_ms: 10", ""].join("\n"));
  const env = { LLORCH_API_TOKEN: TOKEN };
  const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"], { ...env, ORCHD_ADMISSION_POLICY: "drop-lru", ORCHD_ADMISSION_CAPACITY: "1", ORCHD_CATALOG_ROOTS: dir });
  services.push(control);
  const base = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
  const node = spawnService(["actors/node/main.ts", "--control", base, "--config", pools, "--addr", "127.0.0.1:0", "--node-id", "n1"], env);
  services.push(node);
  await control.waitFor((l) => l.msg === "Pool p0 on node n1 is ready", "pool p0 ready");
  return { base, control };
}

test("the client contract across real processes with a token", async () => {
  const { base, control } = await startPair();
  expect((await fetch(`${base}/v2/nodes`)).status).toBe(401);

  // drop-lru: a running task, a queued batch task, then an interactive newcomer evicts it.
  const running = await submitTask(base, { model_ref: "tiny", prompt: "secret-prompt-4711", max_tokens: 5000, session_id: "s1" }, auth);
  expect(running.status).toBe(202);
  expect(running.headers.get("x-budget-tokens-remaining")).toBe(String(1_000_000 - 5000));
  const victim = await submitTask(base, { model_ref: "tiny", prompt: "old", max_tokens: 3, priority: "batch" }, auth);
  const victimStream = await openSse(`${base}${victim.json.streams.sse}`, { headers: auth });
  const newcomer = await submitTask(base, { model_ref: "tiny", prompt: "new", max_tokens: 3 }, auth);
  expect(newcomer.status).toBe(202);
  const victimFrames: Frame[] = [];
  for await (const f of victimStream.frames) victimFrames.push(f);
  expect(victimFrames.map((f) => [f.event, f.data.code])).toEqual([["error", "QUEUE_FULL_DROP_LRU"]]);

  // WebSocket: token in the first message; cancel the long task, then watch the newcomer run.
  const ws = await openWs(base);
  sockets.push(ws);
  ws.send({ type: "auth", token: TOKEN });
  ws.send({ type: "cancel", task_id: running.json.task_id });
  expect(await ws.next((f) => f.type === "canceled")).toMatchObject({ task_id: running.json.task_id });
  ws.send({ type: "subscribe", task_id: newcomer.json.task_id });
  const events = await ws.untilEnd(newcomer.json.task_id);
  expect(events.filter((f) => f.type !== "metrics").map((f) => f.type)).toEqual(["started", "token", "token", "token", "end"]);

  // Sessions: the canceled task counted one turn.
  const session = (await (await fetch(`${base}/v2/sessions/s1`, { headers: auth })).json()) as any;
  expect(session).toMatchObject({ session_id: "s1", turns: 1 });

  // Catalog: a real file verifies against its digest; a wrong digest fails.
  const model = join(dir!, "model.gguf");
  writeFileSync(model, "not really a model");
  const digest = `sha256:${createHash("sha256").update("not really a model").digest("hex")}`;
  const post = (body: unknown) => fetch(`${base}/v2/catalog/models`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(body) });
  expect((await post({ id: "m1", digest, source_url: `file://${model}` })).status).toBe(201);
  const verify = await fetch(`${base}/v2/catalog/models/m1/verify`, { method: "POST", headers: auth });
  expect(verify.status).toBe(202);
  expect(((await verify.json()) as any).result).toBe("pass");
  await post({ id: "m2", digest: `sha256:${"0".repeat(64)}`, source_url: `file://${model}` });
  const bad = await fetch(`${base}/v2/catalog/models/m2/verify`, { method: "POST", headers: auth });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as any).code).toBe("UNTRUSTED_ARTIFACT");
  const availability = (await (await fetch(`${base}/v2/catalog/availability`, { headers: auth })).json()) as any;
  expect(availability.models).toEqual([expect.objectContaining({ model_id: "tiny", total_nodes: 1 })]);

  // The transcript of the finished task is an artifact.
  await collect(`${base}${newcomer.json.streams.sse}`, { headers: auth });
  const listed = (await (await fetch(`${base}/v2/artifacts?tag=task:${newcomer.json.task_id}`, { headers: auth })).json()) as any;
  expect(listed.count).toBe(1);

  // The API description and the metrics.
  const openapi = (await (await fetch(`${base}/v2/openapi.json`, { headers: auth })).json()) as any;
  expect(openapi.info.version).toBe("2.0.0");
  expect(Object.keys(openapi.paths)).toContain("/v2/tasks");
  const metrics = await (await fetch(`${base}/metrics`)).text(); // no token needed
  expect(checkExposition(metrics)).toEqual([]);
  expect(metrics).toMatch(/tasks_rejected_total\{engine="",reason="QUEUE_FULL_DROP_LRU"\} 1/);
  // Neither the token nor a prompt reaches the logs of either process.
  for (const s of services) {
    const text = s.lines.map((l) => JSON.stringify(l)).join("\n");
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain("secret-prompt-4711");
  }
  // One info line per task, its outcome, with the request's correlation id.
  const ended = control.lines.filter((l) => l.msg?.startsWith("Stream ended after"));
  expect(ended.length).toBeGreaterThan(0);
  expect(ended.every((l) => typeof l.correlation_id === "string" && typeof l.node_id === "string" && typeof l.queue_time_ms === "number")).toBe(true);
  expect(control.lines.some((l) => l.msg?.startsWith("Accepted request"))).toBe(false); // debug only
}, 30_000);
