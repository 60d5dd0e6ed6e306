// The fuzz suite: a real control plane and node (`bun run control` + `bun run node`, a mock pool),
// and thousands of seeded hostile inputs: request bodies and ids on every route of the API,
// malformed raw HTTP/1.1, client WebSocket frames and node-link frames. What a user would observe
// is checked: no 5xx but the contract's retriable 503s, the process never exits, /health answers,
// a normal task still completes afterwards, and memory does not keep growing from one round of
// the same inputs to the next. FUZZ_SEED picks another seed; a failure prints the cases.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnService, type Service } from "../harness/process.ts";
import { collect, submitTask } from "../harness/sse.ts";
import { deepJson, fuzzBody, fuzzFrame, fuzzId, fuzzRawRequest, Rng } from "../fuzz/generate.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const TOKEN = "fuzz-client-token-0123456789abcdef";
const NODE_TOKEN = "fuzz-node-token-0123456789abcdef";
const auth = { authorization: `Bearer ${TOKEN}` };
/** Codes a 503 may carry: the contract's retriable refusals (docs/contract.md#error-codes). */
const RETRIABLE_503 = new Set(["POOL_UNAVAILABLE", "POOL_UNREADY", "NODE_UNAVAILABLE", "MODEL_NOT_AVAILABLE", "REPLICA_EXHAUSTED"]);

const services: Service[] = [];
let dir: string | undefined;
afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.stop("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

interface Route {
  method: string;
  path: (rng: Rng) => string;
  valid?: Record<string, unknown>;
}

const id = (rng: Rng) => fuzzId(rng);
const ROUTES: Route[] = [
  { method: "POST", path: () => "/v2/tasks", valid: { model_ref: "tiny", prompt: "hi", max_tokens: 2 } },
  { method: "POST", path: () => "/v1/chat/completions", valid: { model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 2 } },
  { method: "POST", path: () => "/v1/completions", valid: { model: "tiny", prompt: "hi", max_tokens: 2 } },
  { method: "POST", path: () => "/v2/artifacts", valid: { kind: "other", content: { a: 1 }, tags: ["t"] } },
  { method: "GET", path: (r) => `/v2/artifacts/${id(r)}` },
  { method: "GET", path: (r) => `/v2/artifacts?tag=${id(r)}&limit=${r.pick(["-1", "1e9", "x", "5"])}` },
  { method: "POST", path: () => "/v2/catalog/models", valid: { id: "m1", digest: `sha256:${"0".repeat(64)}`, source_url: "file:///etc/shadow" } },
  { method: "GET", path: (r) => `/v2/catalog/models/${id(r)}` },
  { method: "POST", path: (r) => `/v2/catalog/models/${r.chance(0.3) ? "m1" : id(r)}/verify` },
  { method: "POST", path: (r) => `/v2/catalog/models/${id(r)}/state`, valid: { state: "Retired", deadline_ms: 10 } },
  { method: "DELETE", path: (r) => `/v2/catalog/models/${id(r)}` },
  { method: "GET", path: (r) => `/v2/tasks/${id(r)}/events` },
  { method: "POST", path: (r) => `/v2/tasks/${id(r)}/cancel` },
  { method: "GET", path: (r) => `/v2/sessions/${id(r)}` },
  { method: "DELETE", path: (r) => `/v2/sessions/${id(r)}` },
  { method: "POST", path: () => "/v2/nodes/register", valid: { node_id: "rogue", pools: [] } },
  { method: "POST", path: (r) => `/v2/nodes/${r.chance(0.3) ? "n1" : id(r)}/heartbeat`, valid: { node_id: "n1", pools: [] } },
  { method: "GET", path: (r) => `/v2/pools/${id(r)}/health` },
  { method: "POST", path: (r) => `/v2/pools/${id(r)}/drain`, valid: { deadline_ms: 2 ** 31 } },
  { method: "POST", path: (r) => `/v2/pools/${id(r)}/reload`, valid: { new_model_ref: "tiny", drain_deadline_ms: 10 } },
  { method: "GET", path: () => "/v2/catalog/availability" },
  { method: "GET", path: () => "/v1/models" },
];

/** Statuses seen, for the test's own check that the inputs reached the handlers. */
const statuses = new Map<number, number>();

interface Finding {
  what: string;
  status: number;
  body: string;
}

async function startPair() {
  dir = mkdtempSync(join(tmpdir(), "llorch-fuzz-"));
  const pools = join(dir, "pools.yaml");
  writeFileSync(pools, ["pools:", "  - id: p0", "    engine: mock", "    model: tiny", "    slots: 4", "    allow_cpu: true", "    mock:", "      token_delay_ms: 1", ""].join("\n"));
  const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"], { LLORCH_API_TOKEN: TOKEN, LLORCH_NODE_TOKEN: NODE_TOKEN });
  services.push(control);
  const base = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
  const node = spawnService(["actors/node/main.ts", "--control", base, "--config", pools, "--addr", "127.0.0.1:0", "--node-id", "n1"], { LLORCH_NODE_TOKEN: NODE_TOKEN });
  services.push(node);
  await control.waitFor((l) => l.msg === "Pool p0 on node n1 is ready", "pool p0 ready");
  return { base, control };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Runs `count` jobs, `width` at a time. */
async function pool(count: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await job(next++);
  }));
}

async function httpRound(base: string, rng: Rng, count: number, findings: Finding[]): Promise<number> {
  const cases = Array.from({ length: count }, () => {
    const route = rng.pick(ROUTES);
    const path = route.path(rng);
    const body = route.method === "POST" ? fuzzBody(rng, route.valid) : undefined;
    const headers: Record<string, string> = rng.chance(0.85) ? { ...auth } : rng.pick<Record<string, string>>([{}, { authorization: "Bearer" }, { authorization: `bearer ${TOKEN}` }, { authorization: `Bearer ${NODE_TOKEN}` }, { authorization: "Basic eDp5" }]);
    if (body !== undefined) headers["content-type"] = rng.pick(["application/json", "application/json", "text/plain", "application/json; charset=utf-16"]);
    return { method: route.method, path, body, headers };
  });
  let answered = 0;
  await pool(cases.length, 16, async (i) => {
    const c = cases[i]!;
    let res: Response;
    try {
      res = await fetch(`${base}${c.path}`, { method: c.method, headers: c.headers, body: c.body, signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      findings.push({ what: `${c.method} ${c.path.slice(0, 120)}`, status: 0, body: String(error).slice(0, 200) });
      return;
    }
    // An event stream of a real task stays open: only its status matters here.
    const text = res.headers.get("content-type")?.includes("text/event-stream") ? (await res.body?.cancel(), "") : await res.text();
    answered++;
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status >= 500 && !(res.status === 503 && RETRIABLE_503.has(codeOf(text)))) {
      findings.push({ what: `${c.method} ${c.path.slice(0, 120)} body ${(c.body ?? "").slice(0, 80)}`, status: res.status, body: text.slice(0, 200) });
    }
  });
  return answered;
}

function codeOf(text: string): string {
  try {
    return String((JSON.parse(text) as { code?: unknown }).code ?? "");
  } catch {
    return "";
  }
}

/** Raw malformed HTTP/1.1: the answer must be a 4xx or a closed socket, never a 5xx. */
async function rawRound(base: string, rng: Rng, count: number, findings: Finding[]): Promise<void> {
  const { hostname, port } = new URL(base);
  await pool(count, 8, async () => {
    const request = fuzzRawRequest(rng, TOKEN);
    const head = await new Promise<string>((resolve) => {
      let got = "";
      void Bun.connect({
        hostname,
        port: Number(port),
        socket: {
          open: (s) => void s.write(request),
          data: (s, chunk) => {
            got += chunk.toString("latin1");
            if (got.includes("\r\n")) s.end();
          },
          close: () => resolve(got),
          error: () => resolve(got),
          connectError: () => resolve("connect failed"),
        },
      });
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
    if (status >= 500 || head === "connect failed") findings.push({ what: `raw ${request.slice(0, 60)}`, status, body: head.slice(0, 200) });
  });
}

/** Frames on a WebSocket (client /v2/ws or the node link); each socket gets a burst, then closes. */
async function wsRound(url: string, headers: Record<string, string>, rng: Rng, sockets: number, frames: number, types: readonly string[], valid: Record<string, unknown>): Promise<void> {
  await pool(sockets, 4, async () => {
    const ws = new WebSocket(url, { headers } as any);
    const closed = new Promise<void>((resolve) => ws.addEventListener("close", () => resolve(), { once: true }));
    const opened = await new Promise<boolean>((resolve) => {
      ws.addEventListener("open", () => resolve(true), { once: true });
      ws.addEventListener("error", () => resolve(false), { once: true });
    });
    if (opened) {
      for (let i = 0; i < frames && ws.readyState === WebSocket.OPEN; i++) ws.send(fuzzFrame(rng, types, valid));
      ws.close();
    }
    await closed;
  });
}

/** The attacks found by hand before this suite, each sent several times in every round. */
function knownAttacks(): { method: string; path: string; body?: string }[] {
  const deep = (n: number) => `{"kind":"other","content":${deepJson(n, "object")}}`;
  const out: { method: string; path: string; body?: string }[] = [];
  for (let i = 0; i < 8; i++) {
    out.push({ method: "POST", path: "/v2/artifacts", body: deep(20_000) }, { method: "POST", path: "/v2/artifacts", body: deep(100_000) });
    out.push({ method: "POST", path: "/v2/tasks", body: `{"model_ref":"tiny","prompt":"x","max_tokens":1,"deadline_ms":${2 ** 31 + i}}` });
    out.push({ method: "POST", path: "/v2/tasks", body: `{"model_ref":"tiny","prompt":${deepJson(50_000, "array")}}` });
  }
  return out;
}

async function round(base: string, rng: Rng, findings: Finding[]): Promise<void> {
  const known = knownAttacks();
  await pool(known.length, 4, async (i) => {
    const c = known[i]!;
    const what = `known ${c.method} ${c.path} ${c.body?.slice(0, 60)}`;
    try {
      const res = await fetch(`${base}${c.path}`, { method: c.method, headers: { ...auth, "content-type": "application/json" }, body: c.body });
      const text = await res.text();
      if (res.status >= 500) findings.push({ what, status: res.status, body: text.slice(0, 200) });
    } catch (error) {
      findings.push({ what, status: 0, body: String(error).slice(0, 200) });
    }
  });
  await httpRound(base, rng, 1500, findings);
  await rawRound(base, rng, 150, findings);
  const ws = base.replace(/^http/, "ws");
  await wsRound(`${ws}/v2/ws`, auth, rng, 40, 10, ["auth", "submit", "subscribe", "cancel", "nope"], { type: "submit", task: { model_ref: "tiny", prompt: "hi", max_tokens: 2 } });
  await wsRound(`${ws}/v2/nodes/link`, { authorization: `Bearer ${NODE_TOKEN}` }, rng, 30, 10, ["register", "heartbeat", "engine-tokens", "engine-end", "$reply"], {
    v: 1,
    id: "x:1",
    to: rng.pick(["control/registry", "control/tasks/t1", "control/scheduler", "control/../registry"]),
    type: "register",
    payload: { type: "register", node_id: "rogue", pools: [] },
  });
}

test(
  "fuzz: hostile bodies, ids, raw requests and frames give no 5xx, no exit, and no growing memory",
  async () => {
    const { base, control } = await startPair();
    const warm = await submitTask(base, { model_ref: "tiny", prompt: "warm", max_tokens: 2 }, auth);
    expect(warm.status).toBe(202);
    await collect(`${base}${warm.json.streams.sse}`, { headers: auth });

    const rng = new Rng(SEED);
    const findings: Finding[] = [];
    await round(base, rng, findings);
    const afterFirst = rssMb(control.proc.pid);
    await round(base, rng, findings);
    const afterSecond = rssMb(control.proc.pid);

    // The inputs reached the handlers (most were authorized), and some were accepted.
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(3000);
    expect((statuses.get(400) ?? 0) + (statuses.get(404) ?? 0)).toBeGreaterThan(total / 4);
    expect([200, 201, 202, 204].reduce((n, s) => n + (statuses.get(s) ?? 0), 0)).toBeGreaterThan(total / 20);
    expect({ seed: SEED, findings: findings.slice(0, 20), count: findings.length }).toEqual({ seed: SEED, findings: [], count: 0 });
    expect(control.proc.exitCode).toBeNull();
    expect((await fetch(`${base}/health`)).status).toBe(200);
    // The system still serves: a normal task runs to its end.
    const after = await submitTask(base, { model_ref: "tiny", prompt: "after", max_tokens: 3 }, auth);
    expect(after.status).toBe(202);
    const { frames } = await collect(`${base}${after.json.streams.sse}`, { headers: auth });
    expect(frames.filter((f) => f.event === "token")).toHaveLength(3);
    expect(frames.at(-1)?.event).toBe("end");
    // A second round of the same kinds of input keeps nothing: memory does not grow with it.
    expect(afterSecond).toBeLessThan(afterFirst * 1.25 + 40);
  },
  240_000,
);
