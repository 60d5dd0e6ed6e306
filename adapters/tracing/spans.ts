// Spans at a task's phase boundaries (admission, placement, dispatch, engine.call, stream). Started
// and ended once each: nothing here runs per token. Without an installed provider (no OTLP
// endpoint) nothing is recorded and nothing is allocated beyond a small object, and a span only
// passes its parent's context on unchanged, as W3C Trace Context asks of a participant that does
// not trace: the client's trace still reaches the engine, and log lines still carry its trace id.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from "@opentelemetry/api";
import { traceIdOf, type TraceCarrier } from "../../contract/trace.ts";
import { carrierOf, spanContextOf } from "./w3c.ts";

export { SpanKind };

/** Set by startTracing while a provider is installed. */
let tracer: Tracer | undefined;

/** Installs (or with undefined, removes) the tracer spans are recorded with. */
export function setActiveTracer(next: Tracer | undefined): void {
  tracer = next;
}

/** Whether spans are recorded and exported in this process. */
export function tracingActive(): boolean {
  return tracer !== undefined;
}

export interface PhaseSpan {
  /** What to hand on (the link, an engine's headers, a response): this span's context, or the parent's when not recording. */
  readonly carrier: TraceCarrier | undefined;
  /** The trace id, for log lines. */
  readonly traceId: string | undefined;
  setAttributes(attributes: Attributes): void;
  /** Ends the span once (later calls do nothing); an error marks it failed with its code. */
  end(attributes?: Attributes, error?: { code: string; message: string }): void;
}

export interface PhaseOptions {
  kind?: SpanKind;
  /** Made only when the span is recorded: nothing is built for a span that is not. */
  attributes?: () => Attributes;
  /** Epoch milliseconds, when the phase began before the span could be started. */
  startTime?: number;
}

const NO_OPTIONS: PhaseOptions = {};
const NOOP: PhaseSpan = { carrier: undefined, traceId: undefined, setAttributes() {}, end() {} };

class PassThrough implements PhaseSpan {
  readonly traceId: string | undefined;
  constructor(readonly carrier: TraceCarrier) {
    this.traceId = traceIdOf(carrier);
  }
  setAttributes(): void {}
  end(): void {}
}

class Recording implements PhaseSpan {
  readonly carrier: TraceCarrier | undefined;
  readonly traceId: string | undefined;
  #ended = false;
  constructor(private readonly span: Span) {
    this.carrier = carrierOf(span.spanContext());
    this.traceId = traceIdOf(this.carrier);
  }
  setAttributes(attributes: Attributes): void {
    if (!this.#ended) this.span.setAttributes(attributes);
  }
  end(attributes?: Attributes, error?: { code: string; message: string }): void {
    if (this.#ended) return;
    this.#ended = true;
    if (attributes) this.span.setAttributes(attributes);
    if (error) {
      this.span.setAttribute("error.type", error.code);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: `${error.code}: ${error.message}` });
    }
    this.span.end();
  }
}

/** Starts a phase's span as a child of `parent` (a remote context), or of nothing (a new trace). */
export function startPhase(name: string, parent: TraceCarrier | undefined, options: PhaseOptions = NO_OPTIONS): PhaseSpan {
  if (!tracer) return parent ? new PassThrough(parent) : NOOP;
  const ctx = parent ? trace.setSpanContext(ROOT_CONTEXT, spanContextOf(parent)) : ROOT_CONTEXT;
  return new Recording(tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes?.(), startTime: options.startTime }, ctx));
}
