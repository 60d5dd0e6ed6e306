// Native task routes: POST /v2/tasks (admission), GET /v2/tasks/{id}/events (SSE), POST
// /v2/tasks/{id}/cancel. Schema checks happen here; every other guardrail is the control plane's
// (port.submit), so the WebSocket and OpenAI surfaces get the same answers.

import type { Hono } from "hono";
import { errorResponse, fail } from "../errors.ts";
import { budgetHeaders, type ControlPort, type StreamEvent, type StreamSink, TaskRequestV2 } from "../../../contract/index.ts";
import { createSseStream } from "../sse.ts";
import { readBody } from "./read-body.ts";
import { tracedSubmit, type TraceVars } from "../trace.ts";

export interface TaskRouteOptions {
  port: ControlPort;
  /** Frames an SSE reader may fall behind before metrics frames are dropped. */
  sseChannelCap?: number;
  onSseDrop?: () => void;
}

type Vars = { Variables: { correlationId: string; identity: string } & TraceVars };

/**
 * A sink that drops `human` from metrics frames. Built out here, not inside the route: a closure
 * made in the route's scope would keep its Hono context, and with it the request, alive for as
 * long as the stream is open (about 2 KB of heap per open stream, measured).
 */
/** A sink that drops the `human` narration from metrics frames (an object, not a closure per stream). */
class WithoutNarration implements StreamSink {
  constructor(private readonly inner: StreamSink) {}

  push(event: StreamEvent): void {
    if (event.type === "metrics" && event.data.human !== undefined) {
      const { human: _, ...data } = event.data;
      return this.inner.push({ type: "metrics", data: data as typeof event.data });
    }
    this.inner.push(event);
  }
}

export function registerTaskRoutes(app: Hono<Vars>, options: TaskRouteOptions): void {
  const { port } = options;

  app.post("/v2/tasks", async (c) => {
    const body = await readBody(c, TaskRequestV2);
    if (!body.ok) return fail(c, "INVALID_PARAMS", body.message);
    const { outcome, trace } = await tracedSubmit(port, body.value, { correlationId: c.get("correlationId"), identity: c.get("identity") }, { route: "POST /v2/tasks", parent: c.get("trace"), startTime: c.get("traceStart") });
    if (trace) c.set("traceResponse", trace);
    if (!outcome.ok) return errorResponse(c, outcome.error);
    for (const [k, v] of Object.entries(budgetHeaders(outcome.budgets))) c.header(k, v);
    return c.json(outcome.admission, 202);
  });

  app.get("/v2/tasks/:id/events", async (c) => {
    const id = c.req.param("id");
    const stream = createSseStream(c.req.raw.signal, { capacity: options.sseChannelCap, onDrop: options.onSseDrop });
    // Narration (`human`) rides on metrics frames only for verbose readers.
    const verbose = ["1", "true"].includes(c.req.query("verbose") ?? "");
    const sink = verbose ? stream.sink : new WithoutNarration(stream.sink);
    const subscription = await port.subscribe(id, sink);
    if (!subscription) return fail(c, "NOT_FOUND", `task ${id} not found`);
    if ("refused" in subscription) return errorResponse(c, subscription.refused);
    stream.attach(subscription);
    return new Response(stream.body, {
      status: 200,
      headers: {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        Connection: "keep-alive",
        "X-Accel-Buffering": "no",
        ...(subscription.budgets ? budgetHeaders(subscription.budgets) : {}),
      },
    });
  });

  app.post("/v2/tasks/:id/cancel", async (c) => {
    const id = c.req.param("id");
    const result = await port.cancel(id, "client");
    if (result === "unknown") return fail(c, "NOT_FOUND", `task ${id} not found`);
    return c.body(null, 204);
  });
}
