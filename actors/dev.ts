// `bun run dev`: the embedded default. Control plane and one node in one process over the
// in-memory transport, with one pool. Takes the control plane's flags and variables.

import { parseArgs } from "node:util";
import { memoryLinkPair } from "../adapters/transport/index.ts";
import { exitOnFatal, processLogger, runMain, VERSION } from "./cli.ts";
import { controlSettings } from "./control/config.ts";
import { runControl } from "./control/run.ts";
import type { PoolConfig } from "./node/config.ts";
import { startNode } from "./node/node.ts";

const log = processLogger({ service: "dev" });

await runMain(log, async () => {
  const { values } = parseArgs({ options: { addr: { type: "string" }, config: { type: "string" }, help: { type: "boolean" } }, strict: true });
  if (values.help) {
    console.log("usage: bun run dev [--addr HOST:PORT] [--config FILE]\nenv: as for `bun run control`");
    process.exit(0);
  }
  const settings = controlSettings(values);
  const control = await runControl({ ...settings, log, version: VERSION, onFatal: exitOnFatal(log) });
  const pool: PoolConfig = {
    id: "default",
    engine: "mock",
    model: "tiny",
    devices: [],
    slots: 4,
    allow_cpu: true,
    mock: { token_delay_ms: 25 },
  };
  const node = await startNode({
    nodeId: "local",
    pools: [pool],
    log,
    version: VERSION,
    onFatal: exitOnFatal(log),
    connect: async () => {
      const [nodeSide, controlSide] = memoryLinkPair();
      control.plane.acceptLink(controlSide);
      return nodeSide;
    },
  });
  const base = control.url.toString().replace(/\/$/, "");
  const auth = settings.token ? ` -H "Authorization: Bearer $LLORCH_API_TOKEN"` : "";
  log.info(`llama-orch dev is up at ${base}`, { event: "listening", url: base });
  console.log(
    [
      "",
      `llama-orch is running at ${base} (control plane + node 'local', pool 'default', model 'tiny')`,
      "Stream tokens with:",
      `  id=$(curl -s${auth} -H 'content-type: application/json' -d '{"model_ref":"tiny","prompt":"hello","max_tokens":16}' ${base}/v2/tasks | sed -E 's/.*"task_id":"([^"]+)".*/\\1/')`,
      `  curl -sN${auth} ${base}/v2/tasks/$id/events`,
      "",
    ].join("\n"),
  );
  return async () => {
    await node.shutdown();
    await control.stop();
  };
});
