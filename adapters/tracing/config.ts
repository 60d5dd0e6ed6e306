// The OpenTelemetry variables a process reads to decide whether it exports spans, where, how, and
// which it keeps. Pure: the environment is passed in. Tracing is on only when an OTLP endpoint is
// set (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT); a malformed value
// refuses the start (a ConfigError, exit 2) rather than silently exporting nothing.

export type OtlpProtocol = "http/protobuf" | "http/json";

export type SamplerSetting =
  | { kind: "always_on" | "always_off" | "parentbased_always_on" | "parentbased_always_off" }
  | { kind: "traceidratio" | "parentbased_traceidratio"; ratio: number };

export interface BatchSettings {
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
}

export interface TracingConfig {
  /** The full URL spans are POSTed to (…/v1/traces). */
  url: string;
  protocol: OtlpProtocol;
  serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES, as given (OTEL_SERVICE_NAME wins for service.name). */
  resourceAttributes: Record<string, string>;
  sampler: SamplerSetting;
  batch: BatchSettings;
}

export type TracingSettings = { enabled: false; reason: string } | ({ enabled: true } & TracingConfig);

/** Refuses the start: runMain exits 2 on an error of this name. */
export class TracingConfigError extends Error {
  override name = "ConfigError";
}

export const BATCH_DEFAULTS: BatchSettings = { scheduledDelayMillis: 5000, exportTimeoutMillis: 30_000, maxQueueSize: 2048, maxExportBatchSize: 512 };

const SAMPLERS = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"] as const;

type Env = Record<string, string | undefined>;

const value = (env: Env, name: string): string | undefined => {
  const v = env[name]?.trim();
  return v ? v : undefined;
};

export function tracingSettings(env: Env, defaultServiceName: string): TracingSettings {
  if (value(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return { enabled: false, reason: "OTEL_SDK_DISABLED is true" };
  const exporters = (value(env, "OTEL_TRACES_EXPORTER") ?? "otlp").split(",").map((e) => e.trim().toLowerCase());
  if (!exporters.includes("otlp")) return { enabled: false, reason: `OTEL_TRACES_EXPORTER is '${exporters.join(",")}' (only otlp is built in)` };
  const specific = value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const general = value(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  if (!specific && !general) return { enabled: false, reason: "no OTLP endpoint is set" };
  // The signal's own endpoint is used as given; the general one gets the traces path appended.
  const url = specific ? checkUrl(specific, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") : `${checkUrl(general!, "OTEL_EXPORTER_OTLP_ENDPOINT").replace(/\/+$/, "")}/v1/traces`;
  const protocolName = value(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL";
  const protocol = value(env, protocolName) ?? "http/protobuf";
  if (protocol !== "http/protobuf" && protocol !== "http/json") {
    throw new TracingConfigError(`${protocolName} must be http/protobuf or http/json (grpc is not built in), got '${protocol}'`);
  }
  const attributes = resourceAttributes(value(env, "OTEL_RESOURCE_ATTRIBUTES"));
  return {
    enabled: true,
    url,
    protocol,
    serviceName: value(env, "OTEL_SERVICE_NAME") ?? attributes["service.name"] ?? defaultServiceName,
    resourceAttributes: attributes,
    sampler: sampler(env),
    batch: {
      scheduledDelayMillis: count(env, "OTEL_BSP_SCHEDULE_DELAY", BATCH_DEFAULTS.scheduledDelayMillis, 0),
      exportTimeoutMillis: count(env, "OTEL_BSP_EXPORT_TIMEOUT", BATCH_DEFAULTS.exportTimeoutMillis, 1),
      maxQueueSize: count(env, "OTEL_BSP_MAX_QUEUE_SIZE", BATCH_DEFAULTS.maxQueueSize, 1),
      maxExportBatchSize: count(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", BATCH_DEFAULTS.maxExportBatchSize, 1),
    },
  };
}

/** The endpoint without credentials or query, for a log line. */
export function endpointForLog(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

function checkUrl(raw: string, name: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TracingConfigError(`${name} is not a URL: '${raw}'`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TracingConfigError(`${name} must be http:// or https://, got '${url.protocol}'`);
  return raw;
}

function count(env: Env, name: string, fallback: number, min: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new TracingConfigError(`${name} must be an integer of at least ${min}, got '${raw}'`);
  return n;
}

function sampler(env: Env): SamplerSetting {
  const kind = (value(env, "OTEL_TRACES_SAMPLER") ?? "parentbased_always_on").toLowerCase();
  if (!(SAMPLERS as readonly string[]).includes(kind)) throw new TracingConfigError(`OTEL_TRACES_SAMPLER must be one of ${SAMPLERS.join(", ")}, got '${kind}'`);
  if (kind !== "traceidratio" && kind !== "parentbased_traceidratio") return { kind: kind as "always_on" };
  const raw = value(env, "OTEL_TRACES_SAMPLER_ARG");
  const ratio = raw === undefined ? 1 : Number(raw);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new TracingConfigError(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got '${raw}'`);
  return { kind, ratio };
}

/** `key1=value1,key2=value2` (values percent-encoded); a malformed member is skipped. */
function resourceAttributes(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const member of raw.split(",")) {
    const at = member.indexOf("=");
    if (at <= 0) continue;
    const key = member.slice(0, at).trim();
    let v = member.slice(at + 1).trim();
    try {
      v = decodeURIComponent(v);
    } catch {
      continue;
    }
    if (key) out[key] = v;
  }
  return out;
}
