// Tracing: W3C Trace Context in and out (w3c.ts), spans at a task's phase boundaries (spans.ts),
// and the OTLP/HTTP export a process installs when an endpoint is set (provider.ts, config.ts).

export { BATCH_DEFAULTS, endpointForLog, TracingConfigError, tracingSettings, type OtlpProtocol, type TracingConfig, type TracingSettings } from "./config.ts";
export { startTracing, type StartTracingOptions, type TracingHandle } from "./provider.ts";
export { SpanKind, startPhase, tracingActive, type PhaseOptions, type PhaseSpan } from "./spans.ts";
export { carrierOf, readCarrier, spanContextOf, traceHeaders, TRACEPARENT_HEADER, TRACESTATE_HEADER } from "./w3c.ts";
