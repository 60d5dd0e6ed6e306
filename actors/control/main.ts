// `bun run control`: the control plane on its own.
//   --addr HOST:PORT (ORCHD_ADDR, default 127.0.0.1:8080)   --config FILE (ORCHD_CONFIG)
//   --state-dir DIR (ORCHD_STATE_DIR, default $XDG_STATE_HOME/llama-orch or ~/.local/state/llama-orch)
//   --api-keys-file FILE (LLORCH_API_KEYS_FILE: named client keys, re-read on change and on SIGHUP)
//   --tls-cert FILE --tls-key FILE (LLORCH_TLS_CERT, LLORCH_TLS_KEY: serve HTTPS/WSS only)

import { parseArgs } from "node:util";
import { COMMON_FLAGS, exitOnFatal, helpOrVersion, processLogger, runMain, VERSION } from "../cli.ts";
import { controlSettings } from "./config.ts";
import { runControl } from "./run.ts";
import { startTracing } from "../../adapters/tracing/index.ts";

const log = processLogger({ service: "control" });

export const CONTROL_USAGE = `usage: bun run control [-h|--help] [--version] [--addr HOST:PORT] [--config FILE] [--state-dir DIR] [--api-keys-file FILE] [--tls-cert FILE --tls-key FILE]
env: ORCHD_ADDR ORCHD_CONFIG ORCHD_STATE_DIR LLORCH_API_TOKEN (alias AUTH_TOKEN) LLORCH_NODE_TOKEN AUTH_OPTIONAL
     LLORCH_API_KEYS (name:key,...) LLORCH_API_KEYS_FILE LLORCH_METRICS_TOKEN LLORCH_TLS_CERT LLORCH_TLS_KEY
     ORCHD_ADMISSION_CAPACITY ORCHD_ADMISSION_POLICY (reject|drop-lru) ORCHD_RATE_LIMIT_RPS ORCHD_RATE_LIMIT_TPM
     ORCHESTRATORD_NODE_TIMEOUT_MS ORCHD_TIMEOUT_WALL_MS ORCHD_TIMEOUT_IDLE_MS ORCHD_SSE_CHANNEL_CAP
     ORCHD_SSE_METRICS_INTERVAL_MS ORCHD_MAX_BODY_BYTES ORCHD_RETRY_AFTER_MS
     ORCHD_RETENTION_MAX_AGE_MS ORCHD_RETENTION_MAX_BYTES ORCHD_RETENTION_INTERVAL_MS ORCHD_STORE_QUEUE_HIGH_WATER
     ORCHD_MAX_SUBSCRIBERS ORCHD_MAX_SUBSCRIBERS_PER_TASK ORCHD_IDLE_TIMEOUT_S ORCHD_CATALOG_ROOTS
     ORCHD_CATALOG_ROOT ORCH_ARTIFACTS_FS_ROOT (old file stores: imported into the state directory once)
     LLORCH_LOG_LEVEL (debug|info|warn|error) LLORCH_LOG_FORMAT (json|text; default text on a terminal)
     OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT OTEL_EXPORTER_OTLP_PROTOCOL OTEL_SERVICE_NAME OTEL_TRACES_SAMPLER OTEL_BSP_* (tracing)`;

if (import.meta.main) {
  await runMain(log, async () => {
    const { values } = parseArgs({ options: { addr: { type: "string" }, config: { type: "string" }, "state-dir": { type: "string" }, "api-keys-file": { type: "string" }, "tls-cert": { type: "string" }, "tls-key": { type: "string" }, ...COMMON_FLAGS }, strict: true });
    helpOrVersion(values, CONTROL_USAGE);
    const settings = controlSettings(values);
    // OTLP export of spans when OTEL_EXPORTER_OTLP_ENDPOINT is set; nothing otherwise.
    const tracing = await startTracing({ serviceName: "llama-orch-control", version: VERSION, log });
    let control: Awaited<ReturnType<typeof runControl>>;
    try {
      control = await runControl({ ...settings, log, version: VERSION, onFatal: exitOnFatal(log) });
    } catch (error) {
      await tracing.shutdown();
      throw error;
    }
    const auth = [settings.token && "token", (settings.keysFile || settings.keysEnv) && "keys"].filter(Boolean).join("+") || "off";
    if (settings.token && !settings.nodeToken) {
      log.warn("Nodes and clients share a credential (LLORCH_API_TOKEN): any client may open a node link. Set LLORCH_NODE_TOKEN on the control plane and the nodes to separate them", { event: "shared_node_credential" });
    }
    log.info(`Control plane listening on ${control.url}`, { event: "listening", url: control.url.toString(), auth, metrics_auth: settings.metricsToken ? "token" : "off", tls: settings.tls !== undefined, policy: settings.policy, state_dir: settings.stateDir });
    // SIGHUP: re-read the client keys file now (it is also re-read within a second of a change).
    process.on("SIGHUP", () => control.reloadKeys());
    return async () => {
      await control.stop();
      await tracing.shutdown();
    };
  });
}
