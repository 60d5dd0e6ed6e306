// Operations of the task routes (routes/tasks.ts): admission, the SSE stream, cancel. Statuses
// are the ones the routes and port.submit (scheduler, sessions, feasibility) can answer.

import { z, type ZodType } from "zod";
import { AdmissionResponseV2, EndData, ErrorEnvelope, MetricsData, PlacementRequest, Priority, StartedData, TaskRequestV2, TokenData } from "../../../contract/index.ts";
import { BAD_JSON_BODY, BUDGET_HEADERS, INTERNAL, RetryableError, type ControlOperation } from "./common.ts";

const frame = <E extends string>(event: E, data: ZodType) => z.object({ event: z.literal(event), data });
/** One SSE frame: the `event:` line names it, the `data:` line holds `data` as JSON. */
export const StreamFrame = z
  .discriminatedUnion("event", [frame("started", StartedData), frame("token", TokenData), frame("metrics", MetricsData), frame("end", EndData), frame("error", ErrorEnvelope)])
  .describe("One server-sent event, written as `event: <event>` and `data: <JSON of data>`. Order: started, then token and metrics frames, then exactly one end or error, which is last.");

export const TASK_COMPONENTS: Record<string, ZodType> = {
  Priority,
  PlacementRequest,
  TaskRequestV2,
  AdmissionResponseV2,
  RetryableError,
  StreamFrame,
  StartedData,
  TokenData,
  MetricsData,
  EndData,
};

export const TASK_OPERATIONS: ControlOperation[] = [
  {
    method: "post",
    path: "/v2/tasks",
    operationId: "createTaskV2",
    summary: "Admit a task into the queue",
    description:
      "Validates the task (strict: unknown fields are refused), checks it can be placed and that its session has budget left, " +
      "then queues it. The 202 and the event stream carry the session's remaining budgets as X-Budget-* headers. " +
      "A task carries either `prompt` (plain text, evaluated as given) or `messages` (a chat: roles system, user, assistant, tool; " +
      "content a string or text parts), which the engine renders with the model's own chat template, as /v1/chat/completions does.",
    tags: ["tasks"],
    auth: true,
    request: { body: TaskRequestV2 },
    responses: {
      202: { description: "Admitted; stream its events from `streams.sse`", schema: AdmissionResponseV2, headers: BUDGET_HEADERS },
      400: {
        description:
          `${BAD_JSON_BODY}; also INVALID_PARAMS for a task_id already in use, max_tokens above ctx, both prompt and messages, ` +
          "or a ctx above the ctx_max of every pool serving the model (the pools file's ctx, else the engine's own context), " +
          "DEADLINE_UNMET for a deadline_ms that is not positive or cannot be met by the estimated start",
      },
      429: {
        description:
          "ADMISSION_REJECT (policy_label `reject`: the queue is full; `rate.rps` / `rate.tpm`: the token's rate limit; " +
          "`session.turns`, `session.tokens_budget`, `session.time_budget`, `session.cost_budget`, `session.capacity`: the session's limits) " +
          "or QUEUE_FULL_DROP_LRU (policy `drop-lru` found nothing to evict)",
        schema: RetryableError,
      },
      503: {
        description:
          "POOL_UNREADY (a pinned pool is not ready), POOL_UNAVAILABLE (no pool fits the placement or VRAM need), " +
          "MODEL_NOT_AVAILABLE (no online node serves model_ref, or it is retired in the catalog), NODE_UNAVAILABLE (placement.node_id is offline or unknown)",
      },
      ...INTERNAL,
    },
  },
  {
    method: "get",
    path: "/v2/tasks/{id}/events",
    operationId: "streamTaskV2",
    summary: "Stream a task's events (SSE)",
    description:
      "Missed events are replayed first, so a late subscriber sees the whole stream. After the 200, errors arrive only as `error` frames " +
      "(e.g. WORKER_RESET, DECODE_TIMEOUT, QUEUE_FULL_DROP_LRU for a task evicted from a full queue). A reader that falls behind loses " +
      "metrics frames first, never tokens. Closing the stream cancels the task when nobody else watches it.",
    tags: ["tasks"],
    auth: true,
    request: {
      query: z.object({
        verbose: z
          .enum(["true", "false"])
          .default("false")
          .describe("The verbose stream (`streams.sse_verbose`): metrics frames carry a `human` narration; without it they do not."),
      }),
    },
    responses: {
      200: { description: "The event stream", contentType: "text/event-stream", schema: StreamFrame, headers: BUDGET_HEADERS },
      404: { description: "NOT_FOUND: no such task (or it ended more than 60 s ago)" },
      ...INTERNAL,
    },
  },
  {
    method: "post",
    path: "/v2/tasks/{id}/cancel",
    operationId: "cancelTaskV2",
    summary: "Cancel a task (idempotent)",
    description: "Once answered, no token or metrics frame follows; the stream ends with `end {canceled: true}`. No body.",
    tags: ["tasks"],
    auth: true,
    responses: { 204: { description: "Canceled, or already ended" }, 404: { description: "NOT_FOUND: no such task" }, ...INTERNAL },
  },
];
