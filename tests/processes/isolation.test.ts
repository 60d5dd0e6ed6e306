// No request takes the control plane down: poison bodies against a real process (documents
// nested 20,000 levels deep, which once overflowed the artifact actor's stack and, six times in
// ten seconds, exited the process) get 400 INVALID_PARAMS, and /health still answers. A document
// with a `__proto__` key is stored exactly as sent.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { spawnService, type Service } from "../harness/process.ts";

let control: Service;
let base: string;
beforeAll(async () => {
  control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"], { LLORCH_API_TOKEN: "" });
  base = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
});
afterAll(async () => {
  await control?.stop();
});

const deep = (levels: number) => `{"kind":"plan","content":{"a":${"[".repeat(levels)}${"]".repeat(levels)}}}`;
const postArtifact = (body: string) => fetch(`${base}/v2/artifacts`, { method: "POST", headers: { "content-type": "application/json" }, body });

test("50 documents nested 20,000 deep in a row: each 400 INVALID_PARAMS, the process lives and /health answers", async () => {
  for (let i = 0; i < 50; i++) {
    const res = await postArtifact(deep(20_000));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("INVALID_PARAMS");
  }
  const health = await fetch(`${base}/health`);
  expect(health.status).toBe(200);
  expect(control.proc.exitCode).toBeNull();
  // A document within the bound is still stored.
  expect((await postArtifact(deep(50))).status).toBe(201);
}, 60_000);

test("a deep frame on /v2/ws is answered INVALID_PARAMS and the socket goes on", async () => {
  const ws = new WebSocket(base.replace(/^http/, "ws") + "/v2/ws");
  const frames: { type: string; error?: { code: string } }[] = [];
  let next!: () => void;
  ws.onmessage = (e) => {
    frames.push(JSON.parse(String(e.data)));
    next?.();
  };
  try {
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    for (let i = 0; i < 20; i++) {
      const got = new Promise<void>((r) => (next = r));
      ws.send(`{"type":"submit","task":${"[".repeat(20_000)}${"]".repeat(20_000)}}`);
      await got;
    }
    expect(frames).toHaveLength(20);
    expect(frames.every((f) => f.type === "error" && f.error?.code === "INVALID_PARAMS")).toBe(true);
    expect(ws.readyState).toBe(WebSocket.OPEN);
  } finally {
    ws.close();
  }
  expect((await fetch(`${base}/health`)).status).toBe(200);
});

test("a __proto__ key round-trips: the stored document is the one sent, and its id hashes what was sent", async () => {
  const body = '{"content":{"__proto__":{"polluted":true},"x":1},"kind":"plan"}';
  const res = await postArtifact(body);
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  // Canonical JSON of the request (keys sorted, tags/metadata absent): what any client can hash.
  expect(id).toBe(createHash("sha256").update('{"content":{"__proto__":{"polluted":true},"x":1},"kind":"plan"}').digest("hex"));
  const stored = await (await fetch(`${base}/v2/artifacts/${id}`)).text();
  const doc = JSON.parse(stored) as { content: Record<string, unknown> };
  expect(Object.keys(doc.content)).toEqual(["__proto__", "x"]);
  expect(JSON.stringify(doc.content)).toBe('{"__proto__":{"polluted":true},"x":1}');
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});
