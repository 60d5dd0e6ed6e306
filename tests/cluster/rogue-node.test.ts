// A rogue node: a real WebSocket link with valid node credentials (LLORCH_NODE_TOKEN) that tries
// every attack on the node link and the REST node routes, against a cluster whose real node n1
// serves a client's stream meanwhile. Each attack is refused with the contract's code and counted
// in orchd_link_messages_rejected_total; the victim's stream completes untouched, and n1 keeps
// serving. Also: the client token cannot open a node link, the node token cannot call client routes.

import { afterEach, expect, test } from "bun:test";
import { MockEngine } from "../../adapters/engines/index.ts";
import { parseExposition } from "../../adapters/metrics/index.ts";
import { ClientWsLink, type Envelope, type Link } from "../../adapters/transport/index.ts";
import { NODE_LINK_PATH } from "../../adapters/http/index.ts";
import { mockPool, startCluster, type Cluster } from "../harness/cluster.ts";
import { collect, openSse, submitTask, type Frame } from "../harness/sse.ts";

const API_TOKEN = "client-token-0123456789abcdef";
const NODE_TOKEN = "node-token-0123456789abcdef";
const client = { authorization: `Bearer ${API_TOKEN}` };
const asNode = { authorization: `Bearer ${NODE_TOKEN}` };
const INJECTED = "INJECTED-BY-ROGUE";

let cluster: Cluster | undefined;
const links: Link[] = [];
afterEach(async () => {
  for (const l of links.splice(0)) l.close();
  await cluster?.close();
  cluster = undefined;
});

async function start(): Promise<Cluster> {
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0")] }],
    token: API_TOKEN,
    control: { nodeToken: NODE_TOKEN },
    engineFactory: (_p, _r, clock) => new MockEngine({ clock, slots: 1, faults: { tokenDelayMs: 10 } }),
  });
  await cluster.ready();
  return cluster;
}

type Reply = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string } };

/** A hand-driven node link: raw envelopes out, replies and control's envelopes in. */
async function rogueLink(c: Cluster) {
  const url = `${c.url.replace(/^http/, "ws")}${NODE_LINK_PATH}`;
  const link = await ClientWsLink.connect(url, { token: NODE_TOKEN });
  links.push(link);
  const replies = new Map<string, (r: Reply) => void>();
  const received: Envelope[] = [];
  link.onEnvelope((env) => {
    if (env.type === "$reply" && env.replyTo) replies.get(env.replyTo)?.(env.payload as Reply);
    else received.push(env);
  });
  let seq = 0;
  return {
    received,
    ask(to: string, payload: { type: string } & Record<string, unknown>): Promise<Reply> {
      const id = `rogue:${++seq}`;
      const answered = new Promise<Reply>((resolve) => replies.set(id, resolve));
      link.send({ v: 1, id, to, type: payload.type, ask: true, deadline: Date.now() + 5000, payload });
      return answered;
    },
    tell(to: string, payload: { type: string } & Record<string, unknown>): void {
      link.send({ v: 1, id: `rogue:${++seq}`, to, type: payload.type, payload });
    },
  };
}

const pool = (slots_free: number) => ({ pool_id: "p0", ready: true, draining: false, engine: "mock", slots_total: 500, slots_free, models_available: ["tiny"] });
const register = (node_id: string, pools: unknown[] = []) => ({ type: "register", node_id, pools, agent: { $ref: "node/agent" } });

async function rejected(c: Cluster): Promise<Record<string, number>> {
  const text = await (await fetch(`${c.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const s of parseExposition(text).samples) if (s.name === "orchd_link_messages_rejected_total") out[s.labels.reason!] = s.value;
  return out;
}

function tokensOf(frames: Frame[]): { t: string; i: number }[] {
  return frames.filter((f) => f.event === "token").map((f) => f.data);
}

function expectUntouched(frames: Frame[], n: number): void {
  const tokens = tokensOf(frames);
  expect(tokens.map((t) => t.i)).toEqual(Array.from({ length: n }, (_, i) => i));
  expect(tokens.some((t) => t.t === INJECTED)).toBe(false);
  expect(frames.some((f) => f.event === "error")).toBe(false);
  expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: n } });
}

test("a rogue node cannot touch another node's task, take its id, deregister it or send what a node may not", async () => {
  const c = await start();
  const rogue = await rogueLink(c);
  // Valid credentials, its own id: that much is allowed.
  expect(await rogue.ask("control/registry", register("rogue"))).toMatchObject({ ok: true, value: { ok: true } });

  // The victim's stream is running on n1.
  const victim = await submitTask(c.url, { task_id: "victim", model_ref: "tiny", prompt: "victim", max_tokens: 30 }, client);
  expect(victim.status).toBe(202);
  const stream = await openSse(`${c.url}/v2/tasks/victim/events`, { headers: client });
  const frames: Frame[] = [];
  const it = stream.frames[Symbol.asyncIterator]();
  while (!frames.some((f) => f.event === "token")) frames.push((await it.next()).value as Frame);
  // A second task queues behind it (n1 has one slot).
  const queued = await submitTask(c.url, { task_id: "queued", model_ref: "tiny", prompt: "queued", max_tokens: 5 }, client);
  expect(queued.status).toBe(202);

  // Inject into and end another node's task: refused, as asks and as tells.
  const task = "control/tasks/victim";
  for (const payload of [
    { type: "engine-tokens", from: 1, t: [INJECTED, INJECTED] },
    { type: "engine-token", t: INJECTED, i: 2 },
    { type: "engine-end", tokens_out: 1, decode_ms: 1, stop_reason: "stop" },
    { type: "engine-error", error: { code: "WORKER_RESET", message: "rogue" } },
    { type: "engine-started", node_id: "rogue", pool_id: "p0", replica_id: "r0", engine: "mock", engine_version: "x" },
  ]) {
    expect(await rogue.ask(task, payload)).toMatchObject({ ok: false, error: { code: "ACTOR_STOPPED" } });
    rogue.tell(task, payload);
  }
  expect(await rogue.ask("control/tasks/queued", { type: "engine-end", tokens_out: 0, decode_ms: 0, stop_reason: "stop" })).toMatchObject({ ok: false, error: { code: "ACTOR_STOPPED" } });

  // Take n1's id while it is live, or speak for it on this link: refused.
  expect(await rogue.ask("control/registry", register("n1", [pool(500)]))).toMatchObject({ ok: false, error: { code: "INVALID_MESSAGE" } });
  expect(await rogue.ask("control/registry", { type: "heartbeat", node_id: "n1", pools: [pool(500)] })).toMatchObject({ ok: false, error: { code: "INVALID_MESSAGE" } });
  expect(await rogue.ask("control/registry", { type: "deregister", node_id: "n1" })).toMatchObject({ ok: false, error: { code: "INVALID_MESSAGE" } });
  // A second link may not register n1 either (it is live on its own link).
  const second = await rogueLink(c);
  expect(await second.ask("control/registry", register("n1", [pool(500)]))).toMatchObject({ ok: true, value: { ok: false, message: expect.stringContaining("another live link") } });

  // Message types a node may not send, and paths it may not address.
  for (const [to, payload] of [
    ["control/registry", { type: "link-down", link_id: "x", reason: "rogue" }],
    ["control/registry", { type: "list" }],
    ["control/registry", { type: "sweep" }],
    [task, { type: "cancel", reason: "client" }],
    [task, { type: "subscribe", sink: { $ref: "node/agent" } }],
    [task, { type: "constructor" }],
  ] as const) {
    expect(await rogue.ask(to, payload)).toMatchObject({ ok: false, error: { code: "INVALID_MESSAGE" } });
  }
  for (const to of ["control/scheduler", "control/tasks", "control/sessions"]) {
    expect(await rogue.ask(to, { type: "status" })).toMatchObject({ ok: false, error: { code: "ACTOR_STOPPED" } });
  }

  // Malformed payloads, and refs into the control plane's own actors.
  for (const payload of [
    { type: "heartbeat", node_id: "rogue", pools: "all of them" },
    { type: "heartbeat", node_id: "rogue", pools: [], extra: 1 },
    { type: "register", node_id: "rogue", pools: [], agent: { $peerRef: "control/tasks/victim" } },
    { type: "register", node_id: "bad/id\n", pools: [], agent: { $ref: "node/agent" } },
    { type: "deregister" },
  ]) {
    expect(await rogue.ask("control/registry", payload)).toMatchObject({ ok: false, error: { code: "INVALID_MESSAGE" } });
  }

  // Over REST: no heartbeat for, and no deregistration of, a node a live link speaks for.
  const heartbeat = await fetch(`${c.url}/v2/nodes/n1/heartbeat`, { method: "POST", headers: { ...asNode, "content-type": "application/json" }, body: JSON.stringify({ pools: [pool(500)] }) });
  expect(heartbeat.status).toBe(400);
  expect(await heartbeat.json()).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining("node link") });
  const removed = await fetch(`${c.url}/v2/nodes/n1`, { method: "DELETE", headers: asNode });
  expect(removed.status).toBe(400);
  expect(await removed.json()).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining("live node link") });

  // The victim's stream completes untouched; the queued task ran on n1, and no dispatch reached the rogue.
  for (let next = await it.next(); !next.done; next = await it.next()) frames.push(next.value);
  expectUntouched(frames, 30);
  expect(frames.find((f) => f.event === "started")!.data.node_id).toBe("n1");
  const queuedFrames = (await collect(`${c.url}/v2/tasks/queued/events`, { headers: client })).frames;
  expectUntouched(queuedFrames, 5);
  expect(queuedFrames.find((f) => f.event === "started")!.data.node_id).toBe("n1");
  expect([...rogue.received, ...second.received].filter((e) => e.type === "dispatch")).toEqual([]);

  const listed = (await (await fetch(`${c.url}/v2/nodes`, { headers: client })).json()) as { nodes: { node_id: string; status: string; linked: boolean; pools: { slots_free: number }[] }[] };
  const nodes = listed.nodes;
  const n1 = nodes.find((n) => n.node_id === "n1")!;
  expect(n1).toMatchObject({ status: "Online", linked: true });
  expect(n1.pools[0]!.slots_free).toBeLessThanOrEqual(1);

  // Every refusal was counted, by reason (5 tells to the victim went uncounted by nobody).
  const counts = await rejected(c);
  expect(counts.task).toBeGreaterThanOrEqual(11);
  expect(counts.node).toBeGreaterThanOrEqual(4);
  expect(counts.type).toBe(6);
  expect(counts.path).toBe(3);
  expect(counts.payload).toBe(5);

  // The real node keeps serving.
  const after = await submitTask(c.url, { model_ref: "tiny", prompt: "after", max_tokens: 4 }, client);
  expectUntouched((await collect(`${c.url}${after.json.streams.sse}`, { headers: client })).frames, 4);
});

test("a link speaks for one node id; once it closes the id is free; frames for an ended task are refused", async () => {
  const c = await start();
  const rogue = await rogueLink(c);
  expect(await rogue.ask("control/registry", register("spare"))).toMatchObject({ ok: true, value: { ok: true } });
  // This link speaks for "spare" only, even for registrations.
  expect(await rogue.ask("control/registry", register("other"))).toMatchObject({ ok: false, error: { code: "INVALID_MESSAGE" } });
  // While it is open, another link may not take "spare".
  const again = await rogueLink(c);
  expect(await again.ask("control/registry", register("spare"))).toMatchObject({ ok: true, value: { ok: false } });
  const down = new Promise<void>((resolve) => {
    const off = c.control.plane.system.events.on((e) => {
      if (e.type === "delivered" && e.path === "control/registry" && e.msg === "link-down") {
        off();
        resolve();
      }
    });
  });
  links.shift()!.close("rogue leaves");
  await down;
  expect(await again.ask("control/registry", register("spare"))).toMatchObject({ ok: true, value: { ok: true } });

  // A task that ran on n1 and ended: frames for it afterwards are refused, and not from n1 counted as an attack.
  const done = await submitTask(c.url, { task_id: "done", model_ref: "tiny", prompt: "x", max_tokens: 2 }, client);
  expectUntouched((await collect(`${c.url}${done.json.streams.sse}`, { headers: client })).frames, 2);
  const before = (await rejected(c)).task ?? 0;
  expect(await again.ask("control/tasks/done", { type: "engine-end", tokens_out: 9, decode_ms: 1, stop_reason: "stop" })).toMatchObject({ ok: false, error: { code: "ACTOR_STOPPED" } });
  expect((await rejected(c)).task).toBe(before + 1);
});

test("the client token cannot open a node link and the node token cannot call client routes", async () => {
  const c = await start();
  const linkUrl = `${c.url}${NODE_LINK_PATH}`;
  const withClient = await fetch(linkUrl, { headers: client });
  expect(withClient.status).toBe(401);
  expect(await withClient.json()).toMatchObject({ code: "BAD_TOKEN" });
  await expect(ClientWsLink.connect(linkUrl.replace(/^http/, "ws"), { token: API_TOKEN })).rejects.toThrow(/closed before opening|failed to open/);

  for (const [method, path] of [
    ["POST", "/v2/tasks"],
    ["GET", "/v2/nodes"],
    ["GET", "/v2/meta/capabilities"],
    ["POST", "/v1/chat/completions"],
  ] as const) {
    const res = await fetch(`${c.url}${path}`, { method, headers: { ...asNode, "content-type": "application/json" }, body: method === "POST" ? "{}" : undefined });
    expect([path, res.status]).toEqual([path, 401]);
  }
  // The membership routes take the node token, and only it.
  const body = JSON.stringify({ node_id: "tool-1", pools: ["p9"] });
  const byClient = await fetch(`${c.url}/v2/nodes/register`, { method: "POST", headers: { ...client, "content-type": "application/json" }, body });
  expect(byClient.status).toBe(401);
  expect(await byClient.json()).toMatchObject({ code: "BAD_TOKEN" });
  const byNode = await fetch(`${c.url}/v2/nodes/register`, { method: "POST", headers: { ...asNode, "content-type": "application/json" }, body });
  expect(byNode.status).toBe(200);
  expect((await fetch(`${c.url}/v2/nodes/tool-1`, { method: "DELETE", headers: client })).status).toBe(401);
  expect((await fetch(`${c.url}/v2/nodes/tool-1`, { method: "DELETE", headers: asNode })).status).toBe(204);
  // The node token opens a node link.
  const ok = await ClientWsLink.connect(linkUrl.replace(/^http/, "ws"), { token: NODE_TOKEN });
  links.push(ok);
  expect(ok.open).toBe(true);
});
