import { describe, expect, test } from "bun:test";
import { BATCH_DEFAULTS, endpointForLog, tracingSettings } from "./config.ts";

const on = (env: Record<string, string>) => {
  const s = tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", ...env }, "llama-orch-control");
  if (!s.enabled) throw new Error(`expected tracing on, got off: ${s.reason}`);
  return s;
};

describe("tracingSettings", () => {
  test("off without an endpoint, or when disabled, with the reason", () => {
    expect(tracingSettings({}, "svc")).toEqual({ enabled: false, reason: "no OTLP endpoint is set" });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "  " }, "svc").enabled).toBe(false);
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }, "svc")).toEqual({ enabled: false, reason: "OTEL_SDK_DISABLED is true" });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" }, "svc").enabled).toBe(false);
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "console,otlp" }, "svc").enabled).toBe(true);
  });

  test("the general endpoint gets /v1/traces appended; the traces endpoint is used as given and wins", () => {
    expect(on({}).url).toBe("http://collector:4318/v1/traces");
    expect(on({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://collector:4318/otlp/" }).url).toBe("https://collector:4318/otlp/v1/traces");
    expect(on({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://other:9999/custom" }).url).toBe("http://other:9999/custom");
    const onlySpecific = tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://other:9999/custom" }, "svc");
    expect(onlySpecific.enabled && onlySpecific.url).toBe("http://other:9999/custom");
  });

  test("protocol: http/protobuf by default, http/json on request, anything else refuses the start", () => {
    expect(on({}).protocol).toBe("http/protobuf");
    expect(on({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }).protocol).toBe("http/json");
    expect(on({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf" }).protocol).toBe("http/protobuf");
    expect(() => on({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL must be http\/protobuf or http\/json/);
    try {
      on({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" });
    } catch (error) {
      expect((error as Error).name).toBe("ConfigError");
    }
  });

  test("a malformed endpoint refuses the start", () => {
    expect(() => on({ OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT is not a URL/);
    expect(() => on({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "ftp://x/y" })).toThrow(/must be http:\/\/ or https:\/\//);
  });

  test("service name: OTEL_SERVICE_NAME, then service.name in OTEL_RESOURCE_ATTRIBUTES, then the process's own", () => {
    expect(on({}).serviceName).toBe("llama-orch-control");
    expect(on({ OTEL_RESOURCE_ATTRIBUTES: "service.name=from-attrs,deployment.environment=prod%20eu" })).toMatchObject({
      serviceName: "from-attrs",
      resourceAttributes: { "service.name": "from-attrs", "deployment.environment": "prod eu" },
    });
    expect(on({ OTEL_RESOURCE_ATTRIBUTES: "service.name=from-attrs", OTEL_SERVICE_NAME: "mine" }).serviceName).toBe("mine");
    expect(on({ OTEL_RESOURCE_ATTRIBUTES: "broken,=x,k=%E0%A4%A" }).resourceAttributes).toEqual({});
  });

  test("sampler and batch settings, checked", () => {
    expect(on({}).sampler).toEqual({ kind: "parentbased_always_on" });
    expect(on({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.25" }).sampler).toEqual({ kind: "parentbased_traceidratio", ratio: 0.25 });
    expect(on({ OTEL_TRACES_SAMPLER: "traceidratio" }).sampler).toEqual({ kind: "traceidratio", ratio: 1 });
    expect(() => on({ OTEL_TRACES_SAMPLER: "sometimes" })).toThrow(/OTEL_TRACES_SAMPLER must be one of/);
    expect(() => on({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" })).toThrow(/ratio from 0 to 1/);
    expect(on({}).batch).toEqual(BATCH_DEFAULTS);
    expect(on({ OTEL_BSP_SCHEDULE_DELAY: "0", OTEL_BSP_MAX_QUEUE_SIZE: "10", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "5", OTEL_BSP_EXPORT_TIMEOUT: "100" }).batch).toEqual({
      scheduledDelayMillis: 0,
      maxQueueSize: 10,
      maxExportBatchSize: 5,
      exportTimeoutMillis: 100,
    });
    expect(() => on({ OTEL_BSP_SCHEDULE_DELAY: "-1" })).toThrow(/OTEL_BSP_SCHEDULE_DELAY must be an integer of at least 0/);
    expect(() => on({ OTEL_BSP_MAX_QUEUE_SIZE: "lots" })).toThrow(/OTEL_BSP_MAX_QUEUE_SIZE/);
  });

  test("the endpoint is logged without credentials or query", () => {
    expect(endpointForLog("https://user:secret@collector:4318/v1/traces?token=abc")).toBe("https://collector:4318/v1/traces");
  });
});
