// Real inference over real processes: `bun run control` and `bun run node --model PATH
// --allow-cpu` (one pool of the built-in engine on the tiny model, no config file).

import { afterEach, expect, test } from "bun:test";
import { DEFAULT_TINY_MODEL_PATH, ensureTinyModel } from "../../engines/tiny-model/tiny-gguf.ts";
import { spawnService, type Service } from "../harness/process.ts";
import { collect, submitTask } from "../harness/sse.ts";

const services: Service[] = [];
afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.stop("SIGTERM");
});

test("node --model PATH --allow-cpu serves the GGUF as one built-in pool named after the file", async () => {
  ensureTinyModel(DEFAULT_TINY_MODEL_PATH);
  const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"]);
  services.push(control);
  const base = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
  const node = spawnService(["actors/node/main.ts", "--control", base, "--model", DEFAULT_TINY_MODEL_PATH, "--allow-cpu", "--addr", "127.0.0.1:0", "--node-id", "n1"], {
    // No GPU here, and none wanted: the pool runs on the CPU because --allow-cpu says so.
    NVML_LIBRARY_PATH: "/nonexistent/libnvidia-ml.so.1",
  });
  services.push(node);
  await control.waitFor((l) => l.msg === "Pool default on node n1 is ready", "pool ready");
  expect(node.lines.some((l) => l.level === "warn" && /CPU/.test(String(l.msg)))).toBe(true);

  const t = await submitTask(base, { model_ref: "tiny-llama", prompt: "processes", max_tokens: 20, seed: 9 });
  expect(t.status).toBe(202);
  const frames = (await collect(`${base}${t.json.streams.sse}`)).frames.filter((f) => f.event !== "metrics");
  expect(frames[0]).toMatchObject({ event: "started", data: { node_id: "n1", engine: "llamacpp" } });
  expect(frames.at(-1)).toMatchObject({ event: "end", data: { tokens_out: 20 } });

  const chat = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny-llama", messages: [{ role: "user", content: "hi" }], max_tokens: 5 }),
  });
  expect(chat.status).toBe(200);
  expect(((await chat.json()) as any).usage.completion_tokens).toBe(5);
}, 60_000);
