// `bun run node`: a node agent that dials the control plane and supervises its pools' engines.
//   --control URL (ORCHESTRATORD_URL)   --node-id ID (POOL_MANAGERD_NODE_ID, default hostname)
//   --addr HOST:PORT (POOL_MANAGERD_ADDR, ops HTTP)   --config FILE (POOL_MANAGERD_CONFIG)
//   --runtime-dir DIR (POOL_MANAGERD_RUNTIME_DIR, default .runtime: engine logs, pid files, handoffs)
//   --tls-ca FILE (LLORCH_TLS_CA: PEM CA the https:// control plane's certificate must chain to)

import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { createNodeApp, NODE_LINK_PATH, serve } from "../../adapters/http/index.ts";
import { ClientWsLink } from "../../adapters/transport/index.ts";
import { apiToken, nodeToken, checkBind, COMMON_FLAGS, envInt, exitOnFatal, helpOrVersion, parseAddr, processLogger, runMain, UsageError, VERSION } from "../cli.ts";
import { builtinPool, heartbeatIntervalMs, parseNodeConfig, type NodeConfigFile } from "./config.ts";
import { DEFAULT_RUNTIME_DIR, startNode } from "./node.ts";
import { handoffSettings } from "./handoff/index.ts";
import { createResolveMemo, modelSettings } from "./models/index.ts";
import { dirname, resolve as resolvePath } from "node:path";
import { openNvml } from "../../host/index.ts";
import { createNodeMetrics } from "../../adapters/metrics/index.ts";
import { startTracing } from "../../adapters/tracing/index.ts";
import { DEFAULT_RETRY_AFTER_MS, setRetryAfterDefault } from "../../contract/index.ts";

const log = processLogger({ service: "node" });

export const NODE_USAGE =
  "usage: bun run node [-h|--help] [--version] (--config FILE | --model PATH [--allow-cpu]) [--control URL] [--node-id ID] [--addr HOST:PORT] [--runtime-dir DIR] [--tls-ca FILE]\n" +
  "env: ORCHESTRATORD_URL POOL_MANAGERD_NODE_ID POOL_MANAGERD_ADDR POOL_MANAGERD_CONFIG POOL_MANAGERD_RUNTIME_DIR\n" +
  "     POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS (upstream: ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS) POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS LLORCH_API_TOKEN LLORCH_NODE_TOKEN NVML_LIBRARY_PATH\n" +
  "     POOL_MANAGERD_WATCH_INTERVAL_MS POOL_MANAGERD_AUTO_DELETE_HANDOFF POOL_MANAGERD_ALLOW_DOWNLOADS\n" +
  "     POOL_MANAGERD_MODEL_CACHE POOL_MANAGERD_RETRY_AFTER_MS HF_TOKEN LLORCH_TLS_CA\n" +
  "     LLORCH_LOG_LEVEL (debug|info|warn|error) LLORCH_LOG_FORMAT (json|text; default text on a terminal)\n" +
  "     OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT OTEL_EXPORTER_OTLP_PROTOCOL OTEL_SERVICE_NAME OTEL_TRACES_SAMPLER OTEL_BSP_* (tracing)";

if (import.meta.main) {
  await runMain(log, async () => {
    const { values } = parseArgs({
      options: {
        control: { type: "string" },
        "node-id": { type: "string" },
        addr: { type: "string" },
        config: { type: "string" },
        "runtime-dir": { type: "string" },
        model: { type: "string" },
        "allow-cpu": { type: "boolean" },
        "tls-ca": { type: "string" },
        ...COMMON_FLAGS,
      },
      strict: true,
    });
    helpOrVersion(values, NODE_USAGE);
    const configPath = values.config ?? process.env.POOL_MANAGERD_CONFIG;
    let config: NodeConfigFile;
    if (values.model) {
      // Shortcut: one pool of the built-in engine on that GGUF (contract: --model PATH [--allow-cpu]).
      if (values.config) throw new UsageError("--model and --config exclude each other");
      config = parseNodeConfig(JSON.stringify({ pools: [builtinPool(values.model, values["allow-cpu"] ?? false)] }), "--model");
    } else {
      if (values["allow-cpu"]) throw new UsageError("--allow-cpu goes with --model (in a config file, set allow_cpu on the pool)");
      if (!configPath) throw new UsageError("no pools configured: pass --config FILE (or set POOL_MANAGERD_CONFIG), or --model PATH");
      const file = Bun.file(configPath);
      if (!(await file.exists())) throw new UsageError(`config file ${configPath} does not exist`);
      config = parseNodeConfig(await file.text(), configPath);
    }

    const controlUrl = values.control ?? process.env.ORCHESTRATORD_URL ?? config.control_url ?? "http://127.0.0.1:8080";
    let linkUrl: URL;
    try {
      linkUrl = new URL(NODE_LINK_PATH, controlUrl);
    } catch {
      throw new UsageError(`--control: not a URL: '${controlUrl}'`);
    }
    if (linkUrl.protocol !== "http:" && linkUrl.protocol !== "https:") throw new UsageError(`--control must be http(s)://, got '${controlUrl}'`);
    linkUrl.protocol = linkUrl.protocol === "https:" ? "wss:" : "ws:";
    const caPath = values["tls-ca"] ?? (process.env.LLORCH_TLS_CA || undefined);
    let ca: string | undefined;
    if (caPath) {
      if (linkUrl.protocol !== "wss:") throw new UsageError(`--tls-ca needs an https:// control plane, got '${controlUrl}'`);
      const caFile = Bun.file(caPath);
      if (!(await caFile.exists())) throw new UsageError(`--tls-ca ${caPath} does not exist`);
      ca = await caFile.text();
      if (!ca.includes("-----BEGIN CERTIFICATE-----")) throw new UsageError(`--tls-ca ${caPath}: not a PEM certificate file`);
    }
    const nodeId = values["node-id"] ?? process.env.POOL_MANAGERD_NODE_ID ?? config.node_id ?? hostname();
    const addr = parseAddr(values.addr ?? process.env.POOL_MANAGERD_ADDR ?? "127.0.0.1:9200", "--addr");
    // The ops HTTP takes the clients' token; the link dials with the node token when one is set.
    const token = apiToken();
    checkBind(addr.hostname, token);
    const linkToken = nodeToken() ?? token;
    const heartbeatMs = heartbeatIntervalMs(process.env);
    const gpuIntervalMs = envInt("POOL_MANAGERD_GPU_DISCOVERY_INTERVAL_MS", 10_000, 100);
    // The retry hint of the node's retriable errors (pool unavailable, engine reset), as on the control plane.
    setRetryAfterDefault(envInt("POOL_MANAGERD_RETRY_AFTER_MS", DEFAULT_RETRY_AFTER_MS, 1));
    const runtimeDir = values["runtime-dir"] ?? (process.env.POOL_MANAGERD_RUNTIME_DIR || DEFAULT_RUNTIME_DIR);
    // Never throws: without a driver the node sees zero GPUs and says why.
    const gpu = openNvml();
    const inventory = gpu.inventory();
    if (!inventory.available) log.warn(`No GPU: ${inventory.reason}`, { gpu_reason: inventory.reason });
    else log.info(`Found ${inventory.devices.length} GPU(s), driver ${inventory.driver_version}`, { gpus: inventory.devices.map((d) => d.name) });
    const metrics = createNodeMetrics();
    // OTLP export of spans when OTEL_EXPORTER_OTLP_ENDPOINT is set; nothing otherwise.
    const tracing = await startTracing({ serviceName: "llama-orch-node", version: VERSION, log });
    let handoff: ReturnType<typeof handoffSettings>;
    let ms: ReturnType<typeof modelSettings>;
    try {
      handoff = handoffSettings(process.env);
      ms = modelSettings(process.env);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    // Env wins over the file, the file over defaults; relative model paths are relative to the file.
    const models = {
      baseDir: values.model || !configPath ? process.cwd() : dirname(resolvePath(configPath)),
      memo: createResolveMemo(),
      hfToken: ms.hfToken,
      cacheDir: process.env.POOL_MANAGERD_MODEL_CACHE ? ms.cacheDir : (config.model_cache ?? ms.cacheDir),
      allowDownloads: process.env.POOL_MANAGERD_ALLOW_DOWNLOADS ? ms.allowDownloads : (config.allow_downloads ?? false),
    };

    const node = await startNode({
      nodeId,
      pools: config.pools,
      log,
      heartbeatMs,
      runtimeDir,
      gpu,
      gpuIntervalMs,
      metrics,
      handoff,
      models,
      version: VERSION,
      onFatal: exitOnFatal(log),
      connect: (signal) => ClientWsLink.connect(linkUrl.toString(), { token: linkToken, signal, ca }),
    });
    let server;
    try {
      server = serve({ app: createNodeApp({ source: { status: () => node.agent.ask({ type: "status" }) }, version: VERSION, token, metrics }), ...addr, log });
    } catch (error) {
      await node.shutdown();
      throw error;
    }
    log.info(`Node ${nodeId} serving ops HTTP on ${server.url}; control plane at ${controlUrl}`, {
      event: "listening",
      url: server.url.toString(),
      control: controlUrl,
      pools: config.pools.map((p) => p.id),
    });
    return async () => {
      await node.shutdown();
      await server.stop();
      await tracing.shutdown();
    };
  });
}
