// `bun run control`: the control plane on its own.
//   --addr HOST:PORT (ORCHD_ADDR, default 127.0.0.1:8080)

import { parseArgs } from "node:util";
import { apiToken, checkBind, envBool, envInt, exitOnFatal, parseAddr, processLogger, runMain, UsageError, VERSION } from "../cli.ts";
import { CONTROL_DEFAULTS } from "./control-plane.ts";
import { runControl } from "./run.ts";

const log = processLogger({ service: "control" });

export interface ControlFlags {
  addr?: string;
}

export function controlSettings(flags: ControlFlags) {
  const addr = parseAddr(flags.addr ?? process.env.ORCHD_ADDR ?? "127.0.0.1:8080", "--addr");
  const token = apiToken();
  checkBind(addr.hostname, token);
  const policy = process.env.ORCHD_ADMISSION_POLICY ?? "reject";
  if (policy !== "reject") throw new UsageError(`ORCHD_ADMISSION_POLICY must be 'reject' (got '${policy}')`);
  return {
    ...addr,
    token,
    authOptional: envBool("AUTH_OPTIONAL"),
    capacity: envInt("ORCHD_ADMISSION_CAPACITY", CONTROL_DEFAULTS.capacity, 1),
    nodeTimeoutMs: envInt("ORCHESTRATORD_NODE_TIMEOUT_MS", CONTROL_DEFAULTS.nodeTimeoutMs, 1),
  };
}

if (import.meta.main) {
  await runMain(log, async () => {
    const { values } = parseArgs({ options: { addr: { type: "string" }, help: { type: "boolean" } }, strict: true });
    if (values.help) {
      console.log("usage: bun run control [--addr HOST:PORT]\nenv: ORCHD_ADDR LLORCH_API_TOKEN AUTH_OPTIONAL ORCHD_ADMISSION_CAPACITY ORCHD_ADMISSION_POLICY ORCHESTRATORD_NODE_TIMEOUT_MS");
      process.exit(0);
    }
    const settings = controlSettings(values);
    const control = await runControl({ ...settings, log, version: VERSION, onFatal: exitOnFatal(log) });
    log.info(`Control plane listening on ${control.url}`, { event: "listening", url: control.url.toString(), auth: settings.token ? "token" : "off" });
    return () => control.stop();
  });
}
