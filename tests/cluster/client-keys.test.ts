// Named client keys against a real control plane: each key authenticates as its name (in logs,
// never the key), with its own rate limit answered 429 + Retry-After; a key removed from the file
// stops working on reload without a restart; the legacy token keeps working; /v2/ws takes keys by
// header and by first message; /metrics needs the separate scrape token when one is set.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MockEngine } from "../../adapters/engines/index.ts";
import { tokenFp6 } from "../../adapters/http/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { submitTask } from "../harness/sse.ts";
import { openWs, type WsClient } from "../harness/ws.ts";

const LEGACY = "legacy-token-0123456789abcdef";
const ALICE = "alice-key-0123456789abcdef";
const BOB = "bob-key-0123456789abcdef";
const SCRAPE = "scrape-token-0123456789abcdef";

let cluster: Cluster | undefined;
let dir: string | undefined;
const sockets: WsClient[] = [];
let lines: any[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) await s.close();
  await cluster?.close();
  cluster = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function writeKeys(file: string, keys: { name: string; key: string; rps?: number }[]): void {
  writeFileSync(file, JSON.stringify({ keys }));
}

async function start(): Promise<{ file: string }> {
  dir = mkdtempSync(join(tmpdir(), "llorch-keys-"));
  const file = join(dir, "keys.json");
  // 0.01 rps: one request, then 100 s to refill, so a slow machine cannot refill it mid-test.
  writeKeys(file, [{ name: "alice", key: ALICE, rps: 0.01 }, { name: "bob", key: BOB }]);
  lines = [];
  cluster = await startCluster({
    token: LEGACY,
    logSink: (l) => lines.push(JSON.parse(l)),
    control: { keysFile: file, metricsToken: SCRAPE },
    nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { slots: 4 })] }],
    engineFactory: (_pool, _replica, clock) => new MockEngine({ clock, slots: 4 }),
  });
  await cluster.ready();
  return { file };
}

const bearer = (token: string, scheme = "Bearer") => ({ authorization: `${scheme} ${token}` });
const task = { model_ref: "tiny", prompt: "hello", max_tokens: 2 };
const version = (headers: Record<string, string>) => fetch(`${cluster!.url}/v2/meta/version`, { headers });

test("each key is its own identity with its own rate limit; the legacy token still works", async () => {
  await start();
  const first = await submitTask(cluster!.url, task, bearer(ALICE));
  expect(first.status).toBe(202);
  const second = await submitTask(cluster!.url, task, bearer(ALICE, "bearer"));
  expect(second.status).toBe(429);
  expect(Number(second.headers.get("retry-after"))).toBeGreaterThanOrEqual(90);
  expect(second.json).toMatchObject({ code: "ADMISSION_REJECT", retriable: true, policy_label: "rate.rps" });
  expect(second.json.retry_after_ms).toBeGreaterThan(90_000);

  // bob has no limit of his own, and there is no global one; alice's limit is not his.
  for (let i = 0; i < 4; i++) expect((await submitTask(cluster!.url, task, bearer(BOB, "BEARER"))).status).toBe(202);
  expect((await submitTask(cluster!.url, task, bearer(LEGACY))).status).toBe(202);

  const accepted = lines.filter((l) => typeof l.msg === "string" && l.msg.startsWith("Accepted request"));
  expect(accepted.map((l) => l.identity).sort()).toEqual(["key:alice", "key:bob", "key:bob", "key:bob", "key:bob", `token:${tokenFp6(LEGACY)}`].sort());
  const logged = JSON.stringify(lines);
  for (const secret of [ALICE, BOB, LEGACY]) expect(logged).not.toContain(secret);
});

test("a key removed from the file is refused after a reload, without a restart", async () => {
  const { file } = await start();
  expect((await version(bearer(BOB))).status).toBe(200);
  writeKeys(file, [{ name: "alice", key: ALICE, rps: 0.01 }]);
  cluster!.control.reloadKeys(); // what SIGHUP does; a change is also seen within a second on use
  const refused = await version(bearer(BOB));
  expect(refused.status).toBe(401);
  expect(await refused.json()).toMatchObject({ code: "BAD_TOKEN" });
  expect((await version(bearer(ALICE))).status).toBe(200);
  expect((await version(bearer(LEGACY))).status).toBe(200);
  expect((await version(bearer("not-a-key-0123456789abcdef"))).status).toBe(401);
  expect(JSON.stringify(lines)).not.toContain(BOB);
});

test("/v2/ws accepts a named key by header and by first message, counted against that key's limit", async () => {
  await start();
  expect((await submitTask(cluster!.url, task, bearer(ALICE))).status).toBe(202);
  const byHeader = await openWs(cluster!.url, bearer(ALICE));
  sockets.push(byHeader);
  byHeader.send({ type: "submit", task: { ...task, task_id: "ws-alice" } });
  // alice already used her one request over HTTP.
  expect(await byHeader.next((f) => f.type === "rejected")).toMatchObject({ task_id: "ws-alice", error: { code: "ADMISSION_REJECT", policy_label: "rate.rps" } });

  const byFrame = await openWs(cluster!.url);
  sockets.push(byFrame);
  byFrame.send({ type: "auth", token: BOB });
  byFrame.send({ type: "submit", task: { ...task, task_id: "ws-bob" } });
  expect(await byFrame.next((f) => f.task_id === "ws-bob" && f.type === "end")).toMatchObject({ data: { tokens_out: 2 } });

  const wrong = await openWs(cluster!.url);
  sockets.push(wrong);
  wrong.send({ type: "auth", token: "not-a-key-0123456789abcdef" });
  expect(await wrong.next((f) => f.type === "error")).toMatchObject({ error: { code: "BAD_TOKEN" } });
  expect((await wrong.closed).code).toBe(1008);
});

test("with a scrape token, /metrics needs it: client keys and the API token do not open it", async () => {
  await start();
  const noAuth = await fetch(`${cluster!.url}/metrics`);
  expect(noAuth.status).toBe(401);
  expect(await noAuth.json()).toMatchObject({ code: "MISSING_TOKEN" });
  for (const token of [ALICE, LEGACY]) {
    const res = await fetch(`${cluster!.url}/metrics`, { headers: bearer(token) });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: "BAD_TOKEN" });
  }
  const ok = await fetch(`${cluster!.url}/metrics`, { headers: bearer(SCRAPE, "bearer") });
  expect(ok.status).toBe(200);
  expect(await ok.text()).toContain('node_id="n1"');
  // The scrape token is not a client credential either.
  expect((await version(bearer(SCRAPE))).status).toBe(401);
});
