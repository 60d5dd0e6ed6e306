// TLS between real processes, with a certificate made at test time (openssl; no key is committed):
// `bun run control --tls-cert --tls-key` serves HTTPS/WSS only; a node given the CA
// (--tls-ca) dials wss://, registers and completes a task; a node without it is refused by its own
// certificate check and never registers; half a TLS configuration refuses the start.

import { afterEach, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnService, type Service } from "../harness/process.ts";
import { openSse, type Frame } from "../harness/sse.ts";

const TOKEN = "tls-test-token-0123456789";
const services: Service[] = [];
let dir: string;

/** A self-signed certificate for 127.0.0.1 and localhost: it is its own CA. */
function makeCertificate(): { cert: string; key: string } {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const made = Bun.spawnSync([
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ], { stdout: "ignore", stderr: "pipe" });
  if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
  return { cert, key };
}

/** The certificate is made with openssl; without it (`.ci/run` installs it) the tests skip, saying why. */
const OPENSSL = Bun.which("openssl") !== null;
if (!OPENSSL) console.warn("openssl is not installed (apt-get install openssl): skipping the TLS tests");

let pem: { cert: string; key: string };
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "llorch-tls-"));
  if (OPENSSL) pem = makeCertificate();
  writeFileSync(join(dir, "pools.yaml"), ["pools:", "  - id: p0", "    engine: mock", "    model: tiny", "    slots: 1", "    allow_cpu: true", "    mock:", "      token_delay_ms: 1", ""].join("\n"));
  return () => rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.stop("SIGKILL");
});

function spawn(args: string[], env: Record<string, string>): Service {
  const s = spawnService(args, { LLORCH_API_TOKEN: TOKEN, ...env });
  services.push(s);
  return s;
}

test.skipIf(!OPENSSL)("a node with the CA links over wss:// and serves a task; a node without it never registers", async () => {
  const control = spawn(["actors/control/main.ts", "--addr", "127.0.0.1:0", "--tls-cert", pem.cert], { LLORCH_TLS_KEY: pem.key });
  const listening = await control.waitFor((l) => l.event === "listening", "control listening");
  expect(listening.tls).toBe(true);
  const base = String(listening.url).replace(/\/$/, "");
  expect(base).toStartWith("https://127.0.0.1:");
  const ca = await Bun.file(pem.cert).text();
  const tls = { tls: { ca } } as RequestInit;
  const auth = { authorization: `Bearer ${TOKEN}` };

  // Plain HTTP to the TLS port gets no answer; an HTTPS client that does not trust the CA refuses it.
  await expect(fetch(base.replace("https:", "http:") + "/health")).rejects.toThrow();
  await expect(fetch(`${base}/health`)).rejects.toThrow();
  expect((await fetch(`${base}/health`, tls)).status).toBe(200);

  const node = spawn(["actors/node/main.ts", "--control", base, "--config", join(dir, "pools.yaml"), "--addr", "127.0.0.1:0", "--node-id", "n1"], {
    LLORCH_TLS_CA: pem.cert,
  });
  await control.waitFor((l) => l.msg === "Pool p0 on node n1 is ready", "pool p0 ready over wss");

  const submitted = await fetch(`${base}/v2/tasks`, {
    ...tls,
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify({ model_ref: "tiny", prompt: "over tls", max_tokens: 5 }),
  });
  expect(submitted.status).toBe(202);
  const sse = await openSse(`${base}${((await submitted.json()) as any).streams.sse}`, { ...tls, headers: auth });
  expect(sse.status).toBe(200);
  const frames: Frame[] = [];
  for await (const f of sse.frames) frames.push(f);
  expect(frames[0]).toMatchObject({ event: "started", data: { node_id: "n1" } });
  expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 5 } });
  expect(node.lines.some((l) => l.msg === "Could not reach the control plane; will retry")).toBe(false);

  // Same control plane, same token, no CA: the node's TLS check fails and it keeps retrying.
  const stranger = spawn(["actors/node/main.ts", "--control", base, "--config", join(dir, "pools.yaml"), "--addr", "127.0.0.1:0", "--node-id", "n2"], {
    POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "1",
  });
  const failed = await stranger.waitFor((l) => l.msg === "Could not reach the control plane; will retry", "n2 refused");
  expect(String(failed.error)).toContain("wss://127.0.0.1");
  const nodes = (await (await fetch(`${base}/v2/nodes`, { ...tls, headers: auth })).json()) as any;
  expect(nodes.nodes.map((n: { node_id: string }) => n.node_id)).toEqual(["n1"]);
  expect(control.lines.some((l) => typeof l.msg === "string" && l.msg.includes("n2"))).toBe(false);
}, 60_000);

test.skipIf(!OPENSSL)("half a TLS configuration, an unreadable file or a CA for a plain-HTTP control plane refuses the start", async () => {
  const half = spawn(["actors/control/main.ts", "--addr", "127.0.0.1:0", "--tls-cert", pem.cert], {});
  expect(await half.exited).toBe(2);
  expect(half.lines.find((l) => l.event === "startup_refused")?.msg).toContain("--tls-cert and --tls-key");

  const swapped = spawn(["actors/control/main.ts", "--addr", "127.0.0.1:0", "--tls-cert", pem.key, "--tls-key", pem.key], {});
  expect(await swapped.exited).toBe(2);
  expect(swapped.lines.find((l) => l.event === "startup_refused")?.msg).toContain("not a PEM file");

  const node = spawn(["actors/node/main.ts", "--control", "http://127.0.0.1:1", "--config", join(dir, "pools.yaml"), "--addr", "127.0.0.1:0", "--tls-ca", pem.cert], {});
  expect(await node.exited).toBe(2);
  expect(node.lines.find((l) => l.event === "startup_refused")?.msg).toContain("--tls-ca needs an https:// control plane");
}, 30_000);
