// The client WebSocket GET /v2/ws (ws-api.ts, served from server.ts) as an operation: the
// upgrade's statuses, and the frame protocol in words and as two published schemas. OpenAPI has
// no notion of messages, so WsClientFrame / WsServerFrame are components no operation points to;
// ws.test.ts runs frames through a real session so these shapes cannot drift from ws-api.ts.

import { z, type ZodType } from "zod";
import { AdmissionResponseV2, EndData, ErrorEnvelope, MetricsData, StartedData, TaskRequestV2, TokenData } from "../../../contract/index.ts";
import { WS_CLOSE, WS_LIMITS, WS_PATH } from "../ws-api.ts";
import type { ControlOperation } from "./common.ts";

const TaskId = z.string().min(1).max(128);

/** What a client may send: one JSON text message per frame. Mirrors ws-api.ts's ClientFrame. */
export const WsClientFrame = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("auth"), token: z.string().max(8192) }).strict(),
    z.object({ type: z.literal("submit"), task: TaskRequestV2, detach: z.boolean().optional(), traceparent: z.string().max(256).optional(), tracestate: z.string().max(8192).optional() }).strict(),
    z.object({ type: z.literal("subscribe"), task_id: TaskId, detach: z.boolean().optional() }).strict(),
    z.object({ type: z.literal("cancel"), task_id: TaskId }).strict(),
  ])
  .describe("A frame from client to server on /v2/ws (JSON text)");

const streamed = <T extends string>(type: T, data: ZodType) => z.object({ type: z.literal(type), task_id: z.string(), data });

/** What the server sends: replies to frames, each task's stream events, protocol errors. */
export const WsServerFrame = z
  .union([
    AdmissionResponseV2.extend({ type: z.literal("admitted"), traceparent: z.string().optional().describe("The admission span's W3C traceparent, when the task has a trace") }),
    z.object({ type: z.literal("rejected"), task_id: z.string(), error: ErrorEnvelope }),
    z.object({ type: z.literal("canceled"), task_id: z.string() }),
    streamed("started", StartedData),
    streamed("token", TokenData),
    streamed("metrics", MetricsData),
    streamed("end", EndData),
    streamed("error", ErrorEnvelope),
    z.object({ type: z.literal("error"), error: ErrorEnvelope }).describe("A frame the server could not take, or failed auth; not about one task"),
  ])
  .describe("A frame from server to client on /v2/ws (JSON text)");

export const WS_COMPONENTS: Record<string, ZodType> = { WsClientFrame, WsServerFrame };

const L = WS_LIMITS;
const PROTOCOL = [
  "One socket carries many tasks; every frame is one JSON text message (schemas: WsClientFrame, WsServerFrame).",
  "",
  "**Auth.** `Authorization: Bearer <token>` on the upgrade, or (browsers cannot set headers) the first frame " +
    `\`{"type":"auth","token":…}\` within ${L.authTimeoutMs} ms. Without it, or with a wrong token, the server sends ` +
    `\`{"type":"error","error":{"code":"MISSING_TOKEN"|"BAD_TOKEN",…}}\` and closes with ${WS_CLOSE.policy}.`,
  "",
  "**Client → server.**",
  "- `{type:\"submit\", task: TaskRequestV2, detach?, traceparent?, tracestate?}` → `{type:\"admitted\", …AdmissionResponseV2, traceparent?}`, then the task's stream; " +
    "or `{type:\"rejected\", task_id, error}` with the codes of POST /v2/tasks (429s carry retriable, retry_after_ms, policy_label), or a retriable INTERNAL.",
  "- `{type:\"subscribe\", task_id, detach?}` → the task's stream, missed events first; or `rejected` NOT_FOUND.",
  "- `{type:\"cancel\", task_id}` → `{type:\"canceled\", task_id}`, before the stream's `end {canceled:true}`; or `rejected` NOT_FOUND.",
  "",
  "**Server → client.** Stream events `{type:\"started\"|\"token\"|\"metrics\"|\"end\"|\"error\", task_id, data}` with the SSE payloads; " +
    "`end` or `error` is a task's last frame. A frame the server cannot take (not JSON, binary, unknown type or field) is answered " +
    "`{type:\"error\", error:{code:\"INVALID_PARAMS\",…}}` and the socket stays open.",
  "",
  `**Limits.** A frame over ${L.maxFrameBytes} bytes: INVALID_PARAMS, then close ${WS_CLOSE.tooBig}. At most ${L.maxTasks} unfinished tasks ` +
    "per socket; more are `rejected` ADMISSION_REJECT (policy_label `ws-socket-limit`), and a task already streaming on the socket is " +
    "`rejected` INVALID_PARAMS. A client that reads slowly loses metrics frames first (never tokens); past " +
    `${L.maxBacklogBytes} bytes of backlog the socket is closed with ${WS_CLOSE.tryAgain}.`,
  "",
  "**Closing.** A closed socket cancels each unfinished task nobody else watches, unless it was submitted or subscribed with `detach:true`.",
].join("\n");

export const WS_OPERATIONS: ControlOperation[] = [
  {
    method: "get",
    path: WS_PATH,
    operationId: "openWebSocketV2",
    summary: "Multiplexed WebSocket: submit, subscribe to and cancel many tasks on one socket",
    description: PROTOCOL,
    tags: ["tasks"],
    auth: true,
    authAfterUpgrade: true,
    responses: {
      101: {
        description: "Switching Protocols: the socket is open",
        headers: {
          Upgrade: { description: "websocket" },
          Connection: { description: "Upgrade" },
          "Sec-WebSocket-Accept": { description: "RFC 6455 handshake answer" },
        },
      },
      400: { description: "INVALID_PARAMS: not a WebSocket upgrade request, or the upgrade failed" },
      401: { description: "An Authorization header was sent and is malformed (MISSING_TOKEN) or wrong (BAD_TOKEN); without one, auth moves to the first frame" },
    },
  },
];
