// Two real processes: `bun run control` and `bun run node` on free ports, linked over WebSocket.
// A task streams over SSE; killing the node mid-stream ends the task with an `error` event.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnService, type Service } from "../harness/process.ts";
import { openSse, submitTask, type Frame, getJson } from "../harness/sse.ts";

const services: Service[] = [];
let dir: string | undefined;

afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.stop("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function writeConfig(tokenDelayMs: number): string {
  dir = mkdtempSync(join(tmpdir(), "llorch-proc-"));
  const path = join(dir, "pools.yaml");
  writeFileSync(path, ["pools:", "  - id: p0", "    engine: mock", "    model: tiny", "    slots: 2", "    allow_cpu: true", "    mock:", `      token_delay_ms: ${tokenDelayMs}`, ""].join("\n"));
  return path;
}

async function startPair(tokenDelayMs: number, env: Record<string, string> = {}) {
  const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"], env);
  services.push(control);
  const listening = await control.waitFor((l) => l.event === "listening", "control listening");
  const base = String(listening.url).replace(/\/$/, "");
  const node = spawnService(
    ["actors/node/main.ts", "--control", base, "--config", writeConfig(tokenDelayMs), "--addr", "127.0.0.1:0", "--node-id", "n1"],
    { POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "1", ...env },
  );
  services.push(node);
  await control.waitFor((l) => l.msg === "Pool p0 on node n1 is ready", "pool p0 ready at the control plane");
  return { control, node, base };
}

test("a task submitted over HTTP streams its tokens back over SSE across processes", async () => {
  const { base, node } = await startPair(1);
  const a = await submitTask(base, { model_ref: "tiny", prompt: "across processes", max_tokens: 25 });
  expect(a.status).toBe(202);
  const sse = await openSse(`${base}${a.json.streams.sse}`);
  expect(sse.status).toBe(200);
  const frames: Frame[] = [];
  for await (const f of sse.frames) frames.push(f);
  expect(frames[0]!.event).toBe("started");
  expect(frames[0]!.data.node_id).toBe("n1");
  expect(frames.filter((f) => f.event === "token").map((f) => f.data.i)).toEqual(Array.from({ length: 25 }, (_, i) => i));
  expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 25 } });

  const nodes = await getJson(`${base}/v2/nodes`);
  expect(nodes.nodes[0]).toMatchObject({ node_id: "n1", status: "Online" });
  expect(nodes.nodes[0].pools[0]).toMatchObject({ pool_id: "p0", ready: true, models_available: ["tiny"] });

  // The node's own ops endpoints answer too.
  const nodeUrl = String((await node.waitFor((l) => l.event === "listening", "node listening")).url).replace(/\/$/, "");
  expect((await fetch(`${nodeUrl}/health`)).status).toBe(200);
  const ready = await fetch(`${nodeUrl}/ready`);
  expect(ready.status).toBe(200);
  expect(await (await fetch(`${nodeUrl}/metrics`)).text()).toContain('pool_ready{node_id="n1",pool_id="p0"} 1');
}, 30_000);

test("killing the node process mid-stream ends the in-flight task with an error event", async () => {
  const { base, node, control } = await startPair(20);
  const a = await submitTask(base, { model_ref: "tiny", prompt: "doomed", max_tokens: 5000 });
  const sse = await openSse(`${base}${a.json.streams.sse}`);
  const frames: Frame[] = [];
  for await (const f of sse.frames) {
    frames.push(f);
    if (f.event === "token" && f.data.i === 2) node.proc.kill("SIGKILL");
  }
  const last = frames.at(-1)!;
  expect(last.event).toBe("error");
  expect(last.data).toMatchObject({ code: "WORKER_RESET", retriable: true });
  expect(frames.filter((f) => f.event === "end")).toHaveLength(0);
  await control.waitFor((l) => typeof l.msg === "string" && l.msg.startsWith("Node n1 is offline"), "node marked offline");
  const nodes = await getJson(`${base}/v2/nodes`);
  expect(nodes.nodes[0].status).toBe("Offline");
}, 30_000);

test("the control plane refuses a non-loopback bind without a token (exit 2)", async () => {
  const control = spawnService(["actors/control/main.ts", "--addr", "0.0.0.0:0"], { LLORCH_API_TOKEN: "", AUTH_TOKEN: "" });
  services.push(control);
  expect(await control.exited).toBe(2);
  expect(control.lines.some((l) => String(l.msg).includes("LLORCH_API_TOKEN"))).toBe(true);
}, 30_000);

test("with a token, clients and nodes must present it", async () => {
  const token = "s3cret-token-0123456789";
  const { base } = await startPair(1, { LLORCH_API_TOKEN: token });
  const anonymous = await submitTask(base, { model_ref: "tiny", prompt: "x", max_tokens: 2 });
  expect(anonymous.status).toBe(401);
  expect(anonymous.json.code).toBe("MISSING_TOKEN");
  expect(anonymous.headers.get("x-correlation-id")).toBeTruthy();
  const wrong = await submitTask(base, { model_ref: "tiny", prompt: "x", max_tokens: 2 }, { authorization: "Bearer wrong-token-000000000" });
  expect(wrong.json.code).toBe("BAD_TOKEN");
  const ok = await submitTask(base, { model_ref: "tiny", prompt: "x", max_tokens: 2 }, { authorization: `Bearer ${token}` });
  expect(ok.status).toBe(202);
  expect((await fetch(`${base}/metrics`)).status).toBe(200);
  for (const s of services) expect(JSON.stringify(s.lines)).not.toContain(token);
}, 30_000);

test("a restarted control plane is rejoined by the node, which serves again", async () => {
  const { base, control } = await startPair(1);
  const port = new URL(base).port;
  await control.stop("SIGKILL");
  const again = spawnService(["actors/control/main.ts", "--addr", `127.0.0.1:${port}`]);
  services.push(again);
  await again.waitFor((l) => l.msg === "Pool p0 on node n1 is ready", "node re-registered with the new control plane");
  const a = await submitTask(base, { model_ref: "tiny", prompt: "after restart", max_tokens: 5 });
  expect(a.status).toBe(202);
  const sse = await openSse(`${base}${a.json.streams.sse}`);
  const kinds: string[] = [];
  for await (const f of sse.frames) if (f.event !== "metrics") kinds.push(f.event);
  expect(kinds).toEqual(["started", "token", "token", "token", "token", "token", "end"]);
}, 30_000);

test("a node stopped with SIGTERM deregisters and exits 0", async () => {
  const { base, node, control } = await startPair(1);
  expect(await node.stop("SIGTERM")).toBe(0);
  await control.waitFor((l) => l.msg === "Node n1 deregistered", "deregistration");
  expect((await getJson(`${base}/v2/nodes`)).count).toBe(0);
}, 30_000);

test("stopping the control plane ends open streams with a retriable error event", async () => {
  const { base, control } = await startPair(20);
  const a = await submitTask(base, { model_ref: "tiny", prompt: "interrupted", max_tokens: 5000 });
  const sse = await openSse(`${base}${a.json.streams.sse}`);
  const frames: Frame[] = [];
  for await (const f of sse.frames) {
    frames.push(f);
    if (f.event === "token" && f.data.i === 1) void control.stop("SIGTERM");
  }
  expect(frames.at(-1)).toMatchObject({ event: "error", data: { retriable: true } });
  expect(await control.exited).toBe(0);
}, 30_000);
