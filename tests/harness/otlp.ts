// An OTLP/HTTP trace receiver for tests: a Bun.serve on port 0 that takes POST /v1/traces in JSON
// (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) and keeps every span, flattened with its service name;
// protobuf posts are kept as raw bodies. Waits are on arrivals (a predicate over all spans so
// far), never on time. Stop it in finally/afterAll.

export interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  kind: number;
  attributes: Record<string, unknown>;
  status: { code?: number; message?: string };
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  /** Protobuf bodies (content-type application/x-protobuf), as received. */
  protobuf: Uint8Array[];
  /** Requests that were not a POST of spans to /v1/traces. */
  strays: string[];
  /** Resolves once `pred` holds over the spans received so far. */
  until<T>(pred: (spans: ReceivedSpan[]) => T | undefined | false): Promise<T>;
  stop(): Promise<void>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };

function valueOf(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return undefined;
}

function attributesOf(list: { key: string; value: AnyValue }[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of list ?? []) out[a.key] = valueOf(a.value);
  return out;
}

export function startOtlpReceiver(): OtlpReceiver {
  const spans: ReceivedSpan[] = [];
  const protobuf: Uint8Array[] = [];
  const strays: string[] = [];
  let waiters: (() => boolean)[] = [];
  const check = () => (waiters = waiters.filter((w) => !w()));
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method !== "POST" || path !== "/v1/traces") {
        strays.push(`${req.method} ${path}`);
        return new Response("not found", { status: 404 });
      }
      const type = req.headers.get("content-type") ?? "";
      if (type.includes("protobuf")) {
        protobuf.push(new Uint8Array(await req.arrayBuffer()));
        check();
        return new Response(new Uint8Array(0), { headers: { "content-type": "application/x-protobuf" } });
      }
      const body = (await req.json()) as { resourceSpans?: any[] };
      for (const rs of body.resourceSpans ?? []) {
        const service = String(attributesOf(rs.resource?.attributes)["service.name"] ?? "");
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              service,
              name: s.name,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? "",
              kind: s.kind,
              attributes: attributesOf(s.attributes),
              status: s.status ?? {},
            });
          }
        }
      }
      check();
      return Response.json({});
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    spans,
    protobuf,
    strays,
    until(pred) {
      return new Promise((resolve, reject) => {
        const attempt = () => {
          let got;
          try {
            got = pred(spans);
          } catch (error) {
            reject(error);
            return true;
          }
          if (got === undefined || got === false) return false;
          resolve(got as never);
          return true;
        };
        if (attempt()) return;
        waiters.push(attempt);
      });
    },
    async stop() {
      await server.stop(true);
    },
  };
}
