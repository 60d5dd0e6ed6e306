// Wire schemas of the OpenAI-compatible surface (/v1): the two request bodies we validate and the
// response objects we build, as OpenAI names them. Requests are loose on purpose: OpenAI clients
// send many fields we do not use (user, logprobs, response_format...), and refusing them would
// break unmodified clients. The fields we use are checked. `null` means "not given", as OpenAI
// clients often send it for unset options.

import { z } from "zod";

/** Largest max_tokens; the same bound as TaskRequestV2. */
export const MAX_TOKENS_LIMIT = 50_000;
/** Used when a request names no max_tokens (OpenAI's own default is "until the context is full"). */
export const DEFAULT_MAX_TOKENS = 256;
/** Largest accepted /v1 request body: control-app's default for /v2 bodies. */
/** The most choices (`n`) one request may ask for: each is its own task. */
export const MAX_CHOICES = 8;

export const OPENAI_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** User stop sequences; a task takes 16 and the chat template adds its own end marker. */
export const MAX_STOPS = 15;

const Stop = z
  .union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(MAX_STOPS)], {
    error: `stop must be a non-empty string or an array of at most ${MAX_STOPS} such strings (each ≤ 256 characters)`,
  })
  .nullish();

/** The sampling and streaming fields both endpoints share. */
const common = {
  model: z.string().min(1).max(1024).describe("A catalog model id, or a model a pool serves (see GET /v1/models)"),
  max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).nullish().describe(`Tokens to generate at most; default ${DEFAULT_MAX_TOKENS}`),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  /** llama.cpp and vLLM accept it too; not part of OpenAI's API. */
  top_k: z.number().int().min(0).max(100_000).nullish(),
  seed: z.number().int().nullish(),
  stop: Stop,
  n: z.number().int().min(1).max(MAX_CHOICES, { error: `n must be at most ${MAX_CHOICES}` }).nullish().describe("Choices: n independent tasks (docs/api.md#n-choices)"),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
  /** llama.cpp and vLLM extension: generate exactly max_tokens, past end-of-generation. */
  ignore_eos: z.boolean().nullish(),
};

const ContentPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const ToolCallIn = z.looseObject({
  id: z.string(),
  type: z.literal("function").optional(),
  function: z.looseObject({ name: z.string(), arguments: z.string().nullish() }),
});
export const ChatMessage = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z.union([z.string(), z.array(ContentPart)]).nullish(),
  name: z.string().max(256).optional(),
  /** An assistant turn's calls; a `tool` message names the call it answers. */
  tool_calls: z.array(ToolCallIn).max(64).nullish(),
  tool_call_id: z.string().nullish(),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

export const ChatCompletionRequest = z
  .looseObject({
    ...common,
    messages: z.array(ChatMessage).min(1).max(10_000),
    max_completion_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).nullish().describe("Wins over max_tokens when both are given"),
    // Checked in full as the task's fields (contract/task.ts); refused at admission where no pool's engine honours them.
    tools: z.array(z.unknown()).nullish().describe("Function tools ({type:'function', function:{name, description, parameters}})"),
    tool_choice: z.unknown().optional().describe("auto, none, required, or {type:'function', function:{name}}"),
    parallel_tool_calls: z.boolean().nullish().describe("Accepted; a turn makes at most one call here"),
    response_format: z.unknown().optional().describe("{type:'text'|'json_object'} or {type:'json_schema', json_schema:{name, schema, strict}}"),
    presence_penalty: z.number().nullish(),
    frequency_penalty: z.number().nullish(),
    logit_bias: z.unknown().optional(),
    logprobs: z.boolean().nullish().describe("Each token's log probability in choices[].logprobs; refused (400) where no pool's engine reports them"),
    top_logprobs: z.number().int().min(0).max(20).nullish().describe("With logprobs: the most likely alternatives per token, 0 to 20"),
  })
  .describe(
    "OpenAI's chat completion request. Fields that only label a request (user, metadata, store...) are accepted and ignored; the ones listed are honoured or refused with a 400 naming them, and so are functions, function_call, audio, non-text modalities, prediction, web_search_options and reasoning_effort.",
  );
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>;

export const CompletionRequest = z
  .looseObject({
    ...common,
    prompt: z.union([z.string(), z.array(z.string()).length(1)], {
      error: "prompt must be a string (or an array of exactly one string); token arrays and batches are not supported",
    }),
    echo: z.boolean().nullish().describe("Prepend the prompt to the returned text"),
    logprobs: z.number().int().min(0).max(20).nullish().describe("Log probabilities of the generated tokens with this many alternatives each (0 to 20); refused (400) where no pool's engine reports them"),
    best_of: z.literal(1, { error: "only best_of = 1 is supported" }).nullish(),
    presence_penalty: z.number().nullish(),
    frequency_penalty: z.number().nullish(),
    logit_bias: z.unknown().optional(),
  })
  .describe("OpenAI's (legacy) text completion request. Fields that only label a request are accepted and ignored; a non-empty suffix is refused with a 400.");
export type CompletionRequest = z.infer<typeof CompletionRequest>;

export const Usage = z.object({
  prompt_tokens: z.number().int().min(0),
  completion_tokens: z.number().int().min(0),
  total_tokens: z.number().int().min(0),
});
export type Usage = z.infer<typeof Usage>;

export const FinishReason = z.enum(["stop", "length", "tool_calls"]);

export const ToolCallOut = z.object({ id: z.string(), type: z.literal("function"), function: z.object({ name: z.string(), arguments: z.string() }) });
export type FinishReason = z.infer<typeof FinishReason>;

const TokenLogprobOut = z.object({ token: z.string(), logprob: z.number().max(0), bytes: z.array(z.number().int()).nullable() });
export const ChatLogprobs = z
  .object({ content: z.array(TokenLogprobOut.extend({ top_logprobs: z.array(TokenLogprobOut) })).nullable(), refusal: z.null() })
  .describe("Only when the request asked for logprobs: each generated token, most likely alternatives first");
export const TextLogprobs = z
  .object({
    tokens: z.array(z.string()),
    token_logprobs: z.array(z.number().max(0)),
    top_logprobs: z.array(z.record(z.string(), z.number()).nullable()).describe("Per token: alternative → logprob; null when logprobs was 0"),
    text_offset: z.array(z.number().int()).describe("Where each token starts in the returned text (after an echoed prompt)"),
  })
  .describe("Only when the request asked for logprobs");

export const ChatCompletion = z.object({
  id: z.string().describe("chatcmpl-<task_id>"),
  object: z.literal("chat.completion"),
  created: z.number().int().describe("Unix seconds"),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      message: z.object({ role: z.literal("assistant"), content: z.string().nullable(), refusal: z.null(), tool_calls: z.array(ToolCallOut).optional() }),
      logprobs: ChatLogprobs.nullable(),
      finish_reason: FinishReason,
    }),
  ),
  usage: Usage,
});
export type ChatCompletion = z.infer<typeof ChatCompletion>;

export const ChatCompletionChunk = z
  .object({
    id: z.string(),
    object: z.literal("chat.completion.chunk"),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.number().int(),
        delta: z.object({
          role: z.literal("assistant").optional(),
          content: z.string().optional(),
          tool_calls: z.array(ToolCallOut.extend({ index: z.number().int() })).optional(),
        }),
        logprobs: ChatLogprobs.nullable(),
        finish_reason: FinishReason.nullable(),
      }),
    ),
    usage: Usage.nullable().optional().describe("Only with stream_options.include_usage: null on every chunk but the last, which has no choices"),
  })
  .describe("One `data:` line of a streamed chat completion; the stream ends with `data: [DONE]`");
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunk>;

export const TextCompletion = z
  .object({
    id: z.string().describe("cmpl-<task_id>"),
    object: z.literal("text_completion"),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(
      z.object({ text: z.string(), index: z.number().int(), logprobs: TextLogprobs.nullable(), finish_reason: FinishReason.nullable() }),
    ),
    usage: Usage.nullable().optional(),
  })
  .describe("A text completion, or one `data:` line of a streamed one (finish_reason null until the last choice)");
export type TextCompletion = z.infer<typeof TextCompletion>;

export const OpenAiModel = z.object({
  id: z.string(),
  object: z.literal("model"),
  created: z.number().int().describe("Unix seconds: when the catalog entry was created, else when the first node serving it registered"),
  owned_by: z.literal("llama-orch"),
});
export type OpenAiModel = z.infer<typeof OpenAiModel>;

export const OpenAiModelList = z.object({ object: z.literal("list"), data: z.array(OpenAiModel) });
export type OpenAiModelList = z.infer<typeof OpenAiModelList>;

export const OpenAiError = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().describe("invalid_request_error, rate_limit_error or server_error"),
      param: z.string().nullable().describe("The request field at fault, when one is"),
      code: z.string().nullable().describe("e.g. model_not_found, rate_limit_exceeded, invalid_api_key, or the native code in lower case"),
    }),
  })
  .describe("OpenAI's error body; also sent as one `data:` line when a stream fails after it started");
export type OpenAiError = z.infer<typeof OpenAiError>;
