// Installs OpenTelemetry tracing for one process (the control plane, a node, or `bun run dev`):
// a TracerProvider with a batch span processor and an OTLP/HTTP exporter (protobuf or JSON), only
// when an OTLP endpoint is set (config.ts). Unset, nothing is installed: no provider is
// registered and spans.ts records nothing. `shutdown` flushes what is buffered and unregisters.
// The exporter itself reads OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION and the
// certificate variables; none of them is ever logged.

import { diag, DiagLogLevel, trace } from "@opentelemetry/api";
import type { Sampler } from "@opentelemetry/sdk-trace";
import type { Logger } from "../../runtime/index.ts";
import { endpointForLog, tracingSettings, type SamplerSetting, type TracingSettings } from "./config.ts";
import { setActiveTracer } from "./spans.ts";

export interface TracingHandle {
  readonly enabled: boolean;
  readonly settings: TracingSettings;
  /** Exports what is buffered (bounded by OTEL_BSP_EXPORT_TIMEOUT) and unregisters; never rejects. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  /** service.name unless OTEL_SERVICE_NAME says otherwise: llama-orch-control, llama-orch-node. */
  serviceName: string;
  version: string;
  log: Logger;
  env?: Record<string, string | undefined>;
}

/** Exporter complaints (an unreachable collector) reach the log at most once per this interval. */
const DIAG_INTERVAL_MS = 60_000;

/**
 * The SDK and the exporters are loaded only when tracing is on: a process without an OTLP endpoint
 * never loads them (about 5 MB of resident memory in each process).
 */
export async function startTracing(options: StartTracingOptions): Promise<TracingHandle> {
  const settings = tracingSettings(options.env ?? process.env, options.serviceName);
  if (!settings.enabled) return { enabled: false, settings, shutdown: async () => {} };
  const { log } = options;
  const sdk = await import("@opentelemetry/sdk-trace");
  const { resourceFromAttributes } = await import("@opentelemetry/resources");
  const { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } = await import("@opentelemetry/semantic-conventions");
  const exporter =
    settings.protocol === "http/json"
      ? new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter({ url: settings.url })
      : new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter({ url: settings.url });
  const { BatchSpanProcessor, TracerProvider } = sdk;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ ...settings.resourceAttributes, [ATTR_SERVICE_NAME]: settings.serviceName, [ATTR_SERVICE_VERSION]: options.version }),
    sampler: samplerOf(sdk, settings.sampler),
    spanProcessors: [new BatchSpanProcessor({ exporter, ...settings.batch })],
  });
  let lastDiag = -Infinity;
  const complain = (message: string) => {
    const now = performance.now();
    if (now - lastDiag < DIAG_INTERVAL_MS) return;
    lastDiag = now;
    log.warn(`OpenTelemetry: ${message}`, { event: "tracing_error" });
  };
  diag.setLogger({ error: complain, warn: complain, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
  trace.setGlobalTracerProvider(provider);
  setActiveTracer(provider.getTracer("llama-orch", options.version));
  log.info(`Exporting traces to ${endpointForLog(settings.url)} (OTLP ${settings.protocol}) as ${settings.serviceName}`, {
    event: "tracing",
    service_name: settings.serviceName,
    protocol: settings.protocol,
    sampler: settings.sampler.kind,
  });
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    settings,
    shutdown() {
      stopped ??= (async () => {
        setActiveTracer(undefined);
        try {
          await provider.shutdown();
        } catch (error) {
          log.warn(`Could not flush the last spans: ${(error as Error).message}`, { event: "tracing_error" });
        } finally {
          trace.disable();
          diag.disable();
        }
      })();
      return stopped;
    },
  };
}

function samplerOf(sdk: typeof import("@opentelemetry/sdk-trace"), s: SamplerSetting): Sampler {
  const { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler } = sdk;
  switch (s.kind) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(s.ratio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(s.ratio) });
  }
}
