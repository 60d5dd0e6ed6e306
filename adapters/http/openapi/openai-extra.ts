// Operations of the OpenAI-compatible routes of openai/extra-routes.ts: GET /v1/models/{id},
// POST /v1/embeddings and POST /v1/responses. Errors answer OpenAI's shape, as in openai.ts.

import { z, type ZodType } from "zod";
import { OpenAiError, OpenAiModel, OPENAI_MAX_BODY_BYTES } from "../openai/schemas.ts";
import { EmbeddingsRequest, EmbeddingsResponse } from "../openai/embeddings.ts";
import { ResponsesRequest } from "../openai/responses-request.ts";
import type { ControlOperation, Responses } from "./common.ts";

const OutputText = z.object({ type: z.literal("output_text"), text: z.string(), annotations: z.array(z.never()), logprobs: z.array(z.never()) });
const OutputMessage = z.object({
  id: z.string().describe("msg_<task_id>"),
  type: z.literal("message"),
  status: z.enum(["in_progress", "completed", "incomplete"]),
  role: z.literal("assistant"),
  content: z.array(OutputText),
});

export const ResponseObject = z
  .object({
    id: z.string().describe("resp_<task_id>"),
    object: z.literal("response"),
    created_at: z.number().int().describe("Unix seconds"),
    status: z.enum(["in_progress", "completed", "incomplete", "failed"]),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    incomplete_details: z.object({ reason: z.literal("max_output_tokens") }).nullable(),
    instructions: z.string().nullable(),
    max_output_tokens: z.number().int().nullable(),
    model: z.string(),
    output: z.array(OutputMessage),
    store: z.literal(false),
    temperature: z.number().nullable(),
    top_p: z.number().nullable(),
    usage: z
      .object({
        input_tokens: z.number().int(),
        input_tokens_details: z.object({ cached_tokens: z.number().int() }),
        output_tokens: z.number().int(),
        output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
        total_tokens: z.number().int(),
      })
      .nullable(),
    metadata: z.record(z.string(), z.string()),
  })
  .passthrough()
  .describe("OpenAI's response object (also the `response` of the lifecycle stream events). Also carries background, parallel_tool_calls, previous_response_id, reasoning, text, tool_choice, tools and truncation with their fixed values.");

export const OPENAI_EXTRA_COMPONENTS: Record<string, ZodType> = { EmbeddingsRequest, EmbeddingsResponse, ResponsesRequest, ResponseObject };

const error = (description: string) => ({ description, schema: OpenAiError });
const AUTH: Responses = { 401: error("Missing (missing_api_key) or wrong (invalid_api_key) bearer token, when the control plane has a token") };
const TOO_LARGE: Responses = { 413: error(`The body is larger than the limit (default ${OPENAI_MAX_BODY_BYTES} bytes)`) };
const SERVER: Responses = { 500: error("server_error: an unexpected failure, or the engine failed (worker_reset, internal)") };

export const OPENAI_EXTRA_OPERATIONS: ControlOperation[] = [
  {
    method: "get",
    path: "/v1/models/{id}",
    operationId: "retrieveModelV1",
    summary: "One model a request may name",
    description: "A model of GET /v1/models by id (an id may hold `/`).",
    tags: ["openai"],
    auth: true,
    responses: { 200: { description: "The model", schema: OpenAiModel }, ...AUTH, 404: error("model_not_found: not listed by GET /v1/models"), ...SERVER },
  },
  {
    method: "post",
    path: "/v1/embeddings",
    operationId: "createEmbeddingsV1",
    summary: "OpenAI-compatible embeddings",
    description:
      "One vector per input, in order, from one ready pool that has the model and advertises the `embedding` workload (asked in " +
      "batches of 16 over its node's link; no task, no queue). `input` is a string or up to 2048 strings; token arrays and " +
      "`dimensions` are refused (400 naming the parameter). `encoding_format` float (default) or base64 (little-endian float32). " +
      "usage.prompt_tokens is the engine's count.",
    tags: ["openai"],
    auth: true,
    request: { body: EmbeddingsRequest },
    responses: {
      200: { description: "The vectors", schema: EmbeddingsResponse },
      400: error("invalid_request_error: a field is wrong (param names it: input, dimensions), or the model's pools serve no embeddings (param model)"),
      ...AUTH,
      404: error("model_not_found: no online node serves the model and the catalog does not list it"),
      ...TOO_LARGE,
      ...SERVER,
      503: error("server_error: the model's embedding pools are not ready (pool_unavailable), or it is listed but no online pool has it (model_not_available)"),
    },
  },
  {
    method: "post",
    path: "/v1/responses",
    operationId: "createResponseV1",
    summary: "OpenAI-compatible Responses API (text)",
    description:
      "Runs as an `interactive` task, exactly like /v1/chat/completions: `instructions` is a system message before `input` (a string, or " +
      "message items whose content is text or input_text/output_text parts); max_output_tokens (default 256), temperature, top_p. " +
      "`status` is `incomplete` (incomplete_details.reason max_output_tokens) when the limit stopped it. Not stored. Refused with 400 " +
      "naming the parameter: tools, tool_choice other than auto/none, previous_response_id, conversation, store: true, background, " +
      "reasoning, text.format other than text, include, top_logprobs, prompt, truncation: auto, other input item or content types. " +
      "With `stream: true` the 200 is `text/event-stream` of `event: <type>` / `data: {type, sequence_number, ...}`: response.created, " +
      "response.in_progress, response.output_item.added, response.content_part.added, response.output_text.delta*, " +
      "response.output_text.done, response.content_part.done, response.output_item.done, then response.completed or " +
      "response.incomplete; a failure after it began is response.failed. Closing the connection cancels the task.",
    tags: ["openai"],
    auth: true,
    request: { body: ResponsesRequest },
    responses: {
      200: { description: "The response (or, streaming, its events)", schema: ResponseObject },
      400: error("invalid_request_error: a field is wrong (invalid_params) or a feature is not offered (unsupported_parameter); param names it"),
      ...AUTH,
      404: error("model_not_found"),
      ...TOO_LARGE,
      429: error("rate_limit_error: the queue is full or a rate limit or budget is spent (Retry-After, retry-after-ms)"),
      ...SERVER,
      503: error("server_error: no pool can take the task now"),
    },
  },
];
