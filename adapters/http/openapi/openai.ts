// Operations of the OpenAI-compatible routes (openai/routes.ts). Every error answers OpenAI's
// shape ({error:{message, type, param, code}}), not the ErrorEnvelope, except the 431 that
// control-app's header limit gives before any route runs.

import type { ZodType } from "zod";
import {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  CompletionRequest,
  OpenAiError,
  OpenAiModel,
  OpenAiModelList,
  OPENAI_MAX_BODY_BYTES,
  TextCompletion,
  Usage,
} from "../openai/schemas.ts";
import type { ControlOperation, Responses } from "./common.ts";

export const OPENAI_COMPONENTS: Record<string, ZodType> = {
  ChatCompletionRequest,
  CompletionRequest,
  ChatCompletion,
  ChatCompletionChunk,
  TextCompletion,
  Usage,
  OpenAiModel,
  OpenAiModelList,
  OpenAiError,
};

const error = (description: string) => ({ description, schema: OpenAiError });

const AUTH: Responses = {
  401: error("Missing (code missing_api_key) or wrong (invalid_api_key) `Authorization: Bearer <key>`, when the control plane has a token"),
};

/** What admission and the task can answer, in OpenAI's shape. */
const GENERATION_ERRORS: Responses = {
  400: error(
    "invalid_request_error: a field we use is wrong (code invalid_params, `param` names it), the body is not JSON (invalid_json), " +
      "or admission refused the task (invalid_params, e.g. max_tokens above the model's context)",
  ),
  ...AUTH,
  404: error("model_not_found: no online node serves the model and the catalog does not list it (or lists it as Retired)"),
  413: error(`The body is larger than the limit (default ${OPENAI_MAX_BODY_BYTES} bytes)`),
  429: error(
    "rate_limit_error, code rate_limit_exceeded: the queue is full or a rate limit or session budget is spent. Retry-After (seconds), " +
      "retry-after-ms and X-Backoff-Ms say when to retry; the openai client honours them",
  ),
  500: error(
    "server_error: the engine failed (worker_reset, decode_timeout, internal), an unexpected failure (internal), or the task was " +
      "canceled through /v2 before a non-streamed answer was complete (code canceled, with x-should-retry: false)",
  ),
  503: error("server_error: no pool can take the task now (pool_unavailable, pool_unready, node_unavailable, model_not_available for a known model)"),
};

const STREAMING =
  "With `stream: true` the 200 is `text/event-stream`: `data: <ChatCompletionChunk | TextCompletion as JSON>` lines, ended by `data: [DONE]`. " +
  "Chat streams start with a chunk holding only the assistant role; the last choice chunk has `finish_reason`; with " +
  "`stream_options.include_usage` a final chunk without choices carries `usage`. A failure after the stream began is one " +
  "`data: {\"error\":{...}}` line (OpenAiError) and the stream ends without [DONE]. Closing the connection cancels the task.";

const MAPPING =
  "Runs as an `interactive` task: model → model_ref, max_tokens (default 256, 1..50000), temperature, top_p, top_k, seed, stop " +
  "(string or up to 15 strings), ignore_eos. n and best_of must be 1. Other fields are accepted and ignored. finish_reason is `length` " +
  "when max_tokens ended it, else `stop`. usage.prompt_tokens is the engine's count when it reports one, else ceil(characters / 4).";

export const OPENAI_OPERATIONS: ControlOperation[] = [
  {
    method: "post",
    path: "/v1/chat/completions",
    operationId: "createChatCompletionV1",
    summary: "OpenAI-compatible chat completion",
    description:
      `${MAPPING} The messages become the task's \`messages\` (developer → system, function → tool; only text content is accepted) ` +
      "and the engine renders them with the model's own chat template (the GGUF's tokenizer.chat_template on the built-in engine and " +
      `llama-server; the server's template on vLLM, SGLang and TGI); the control plane renders nothing. max_completion_tokens wins over max_tokens. ${STREAMING}`,
    tags: ["openai"],
    auth: true,
    request: { body: ChatCompletionRequest },
    responses: { 200: { description: "The completion (or, streaming, its chunks)", schema: ChatCompletion }, ...GENERATION_ERRORS },
  },
  {
    method: "post",
    path: "/v1/completions",
    operationId: "createCompletionV1",
    summary: "OpenAI-compatible text completion",
    description: `${MAPPING} \`prompt\` is one string; \`echo: true\` puts it before the generated text. ${STREAMING}`,
    tags: ["openai"],
    auth: true,
    request: { body: CompletionRequest },
    responses: { 200: { description: "The completion (or, streaming, its chunks)", schema: TextCompletion }, ...GENERATION_ERRORS },
  },
  {
    method: "get",
    path: "/v1/models",
    operationId: "listModelsV1",
    summary: "Models a request may name",
    description: "Every model a pool of an online node has, plus the catalog's Active entries; Retired entries are left out. Sorted by id.",
    tags: ["openai"],
    auth: true,
    responses: { 200: { description: "The model list", schema: OpenAiModelList }, ...AUTH, 500: error("server_error: an unexpected failure") },
  },
];
