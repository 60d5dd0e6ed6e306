// `bun run control`: the control plane on its own.
//   --addr HOST:PORT (ORCHD_ADDR, default 127.0.0.1:8080)   --config FILE (ORCHD_CONFIG)
//   --state-dir DIR (ORCHD_STATE_DIR, default $XDG_STATE_HOME/llama-orch or ~/.local/state/llama-orch)

import { parseArgs } from "node:util";
import { exitOnFatal, processLogger, runMain, VERSION } from "../cli.ts";
import { controlSettings } from "./config.ts";
import { runControl } from "./run.ts";

const log = processLogger({ service: "control" });

export const CONTROL_USAGE = `usage: bun run control [--addr HOST:PORT] [--config FILE] [--state-dir DIR]
env: ORCHD_ADDR ORCHD_CONFIG ORCHD_STATE_DIR LLORCH_API_TOKEN (alias AUTH_TOKEN) AUTH_OPTIONAL
     ORCHD_ADMISSION_CAPACITY ORCHD_ADMISSION_POLICY (reject|drop-lru) ORCHD_RATE_LIMIT_RPS ORCHD_RATE_LIMIT_TPM
     ORCHESTRATORD_NODE_TIMEOUT_MS ORCHD_TIMEOUT_WALL_MS ORCHD_TIMEOUT_IDLE_MS ORCHD_SSE_CHANNEL_CAP
     ORCHD_SSE_METRICS_INTERVAL_MS ORCHD_MAX_BODY_BYTES ORCHD_RETRY_AFTER_MS
     ORCHD_RETENTION_MAX_AGE_MS ORCHD_RETENTION_MAX_BYTES ORCHD_RETENTION_INTERVAL_MS ORCHD_STORE_QUEUE_HIGH_WATER
     ORCHD_CATALOG_ROOT ORCH_ARTIFACTS_FS_ROOT (old file stores: imported into the state directory once)`;

if (import.meta.main) {
  await runMain(log, async () => {
    const { values } = parseArgs({ options: { addr: { type: "string" }, config: { type: "string" }, "state-dir": { type: "string" }, help: { type: "boolean" } }, strict: true });
    if (values.help) {
      console.log(CONTROL_USAGE);
      process.exit(0);
    }
    const settings = controlSettings(values);
    const control = await runControl({ ...settings, log, version: VERSION, onFatal: exitOnFatal(log) });
    log.info(`Control plane listening on ${control.url}`, { event: "listening", url: control.url.toString(), auth: settings.token ? "token" : "off", policy: settings.policy, state_dir: settings.stateDir });
    return () => control.stop();
  });
}
