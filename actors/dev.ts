// `bun run dev`: the embedded default. Control plane and one node in one process over the
// in-memory transport, with one pool of the built-in llama.cpp engine as a child process.
// Without --model it makes the tiny test model (if missing) and serves it on the CPU as "tiny";
// --model PATH serves a real GGUF instead. Takes the control plane's flags and variables.

import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { memoryLinkPair } from "../adapters/transport/index.ts";
import { openNvml } from "../host/index.ts";
import { DEFAULT_TINY_MODEL_PATH, ensureTinyModel } from "../engines/tiny-model/tiny-gguf.ts";
import { COMMON_FLAGS, exitOnFatal, helpOrVersion, processLogger, runMain, UsageError, VERSION } from "./cli.ts";
import { startTracing } from "../adapters/tracing/index.ts";
import { controlSettings } from "./control/config.ts";
import { runControl } from "./control/run.ts";
import { builtinPool, PoolConfig } from "./node/config.ts";
import { startNode } from "./node/node.ts";

const log = processLogger({ service: "dev" });

await runMain(log, async () => {
  const { values } = parseArgs({
    options: { addr: { type: "string" }, config: { type: "string" }, "state-dir": { type: "string" }, model: { type: "string" }, ...COMMON_FLAGS },
    strict: true,
  });
  helpOrVersion(values, "usage: bun run dev [-h|--help] [--version] [--model PATH] [--addr HOST:PORT] [--config FILE] [--state-dir DIR]\nenv: as for `bun run control`");
  const settings = controlSettings(values);
  let file: string;
  if (values.model) {
    file = resolve(values.model);
    if (!(await Bun.file(file).exists())) throw new UsageError(`--model: no such file: ${file}`);
  } else {
    const made = ensureTinyModel(DEFAULT_TINY_MODEL_PATH);
    if (made.written) log.info(`Wrote the tiny test model to ${made.path}`, { path: made.path, bytes: made.bytes });
    file = made.path;
  }
  // Two slots, one thread each: what a small machine sustains (more threads than cores collapses).
  const pool = PoolConfig.parse({
    ...builtinPool(file, true, 2),
    ...(values.model ? {} : { model: "tiny" }),
    threads: Math.max(1, Math.min(2, Math.floor(availableParallelism() / 2))),
  });
  // Both sides in one process, one service: llama-orch (OTEL_EXPORTER_OTLP_ENDPOINT, as for control and node).
  const tracing = await startTracing({ serviceName: "llama-orch", version: VERSION, log });
  const control = await runControl({ ...settings, log, version: VERSION, onFatal: exitOnFatal(log) });
  let node: Awaited<ReturnType<typeof startNode>>;
  try {
    node = await startNode({
      nodeId: "local",
      pools: [pool],
      // A real model offloads to the GPUs when there are any; the tiny one stays on the CPU.
      ...(values.model ? { gpu: openNvml() } : {}),
      log,
      version: VERSION,
      onFatal: exitOnFatal(log),
      connect: async () => {
        const [nodeSide, controlSide] = memoryLinkPair();
        control.plane.acceptLink(controlSide);
        return nodeSide;
      },
    });
  } catch (error) {
    await control.stop();
    throw error;
  }
  const base = control.url.toString().replace(/\/$/, "");
  const auth = settings.token ? ` -H "Authorization: Bearer $LLORCH_API_TOKEN"` : "";
  log.info(`llama-orch dev is up at ${base}`, { event: "listening", url: base, model: pool.model });
  console.log(
    [
      "",
      `llama-orch is running at ${base} (control plane + node 'local', pool 'default', model '${pool.model}' on the built-in llama.cpp engine)`,
      "Stream tokens with:",
      `  id=$(curl -s${auth} -H 'content-type: application/json' -d '{"model_ref":"${pool.model}","prompt":"hello","max_tokens":32}' ${base}/v2/tasks | sed -E 's/.*"task_id":"([^"]+)".*/\\1/')`,
      `  curl -sN${auth} ${base}/v2/tasks/$id/events`,
      "Or through the OpenAI API:",
      `  curl -sN${auth} -H 'content-type: application/json' -d '{"model":"${pool.model}","messages":[{"role":"user","content":"hello"}],"max_tokens":32,"stream":true}' ${base}/v1/chat/completions`,
      "",
    ].join("\n"),
  );
  return async () => {
    await node.shutdown();
    await control.stop();
    await tracing.shutdown();
  };
});
