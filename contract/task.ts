// Tasks on the wire: the request (POST /v2/tasks), its admission (202), and the stream events
// (SSE, WebSocket, the node link's engine events as the client sees them). Names follow the
// upstream contract exactly (docs/contract.md#tasks).

import { z } from "zod";
import { Id, safeText } from "./ids.ts";
import { ErrorEnvelope } from "./errors.ts";
import { MAX_TOP_LOGPROBS } from "./engine.ts";
import { ChatTool, MAX_TOOLS, ResponseFormat, TaskChatMessages, ToolCalls, ToolChoice } from "./chat.ts";

/** Longest task deadline: the longest one timer can wait (2^31 - 1 ms, about 24.8 days). */
export const MAX_TASK_DEADLINE_MS = 2 ** 31 - 1;

export const Priority = z.enum(["interactive", "batch"]);
export type Priority = z.infer<typeof Priority>;

export const PlacementRequest = z
  .object({
    mode: z.enum(["pin", "prefer", "auto"]).default("auto"),
    pin_pool_id: Id.optional(),
    node_id: Id.optional(),
    prefer_pools: z.array(Id).max(64).optional(),
    avoid_pools: z.array(Id).max(64).optional(),
    /** Exact match with a pool's devices, e.g. "0,1". */
    require_device_mask: z.string().max(256).optional(),
    allow_fallback: z.boolean().default(true),
  })
  .strict();
export type PlacementRequest = z.infer<typeof PlacementRequest>;

export const TaskRequestV2 = z
  .object({
    task_id: Id.optional(),
    session_id: Id.optional(),
    workload: z.enum(["completion", "embedding", "rerank"]).default("completion"),
    model_ref: safeText(1024),
    engine: z.enum(["llamacpp", "vllm", "tgi", "triton", "openai", "mock"]).optional(),
    ctx: z.number().int().min(0).default(0),
    priority: Priority.default("interactive"),
    seed: z.number().int().optional(),
    determinism: z.enum(["strict", "best_effort"]).optional(),
    sampler_profile_version: z.string().optional(),
    prompt: z.string().max(1_000_000).default(""),
    /** A chat: the engine applies the model's own template. Instead of a prompt, never with one. */
    messages: TaskChatMessages.optional(),
    inputs: z.array(z.string()).optional(),
    max_tokens: z.number().int().min(1).max(50_000),
    deadline_ms: z.number().int().max(MAX_TASK_DEADLINE_MS).optional(),
    expected_tokens: z.number().int().min(0).optional(),
    kv_hint: z.enum(["reuse", "cold"]).optional(),
    placement: PlacementRequest.optional(),
    /** A hint only (text|json|edits); never changes model semantics. */
    output_mode: z.string().max(32).optional(),
    temperature: z.number().min(0).max(10).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().min(0).max(100_000).optional(),
    stop: z.array(z.string().max(256)).max(16).optional(),
    /** Generate exactly max_tokens, past end-of-generation tokens. */
    ignore_eos: z.boolean().optional(),
    /** Functions the model may call (chat only); refused at admission where the pools' engines cannot. */
    tools: z.array(ChatTool).min(1).max(MAX_TOOLS).optional(),
    tool_choice: ToolChoice.optional(),
    /** Structured output, constrained by the engine's grammar. */
    response_format: ResponseFormat.optional(),
    presence_penalty: z.number().min(-2).max(2).optional(),
    frequency_penalty: z.number().min(-2).max(2).optional(),
    /** Token id (decimal string) → bias added to its logit, -100 to 100 (-100: never). */
    logit_bias: z
      .record(z.string().regex(/^\d{1,9}$/, "logit_bias keys are token ids"), z.number().min(-100).max(100))
      .refine((b) => Object.keys(b).length <= 1024, "logit_bias takes at most 1024 tokens")
      .optional(),
    /** Each token event carries its log probability (`lp`); refused where the pools' engines cannot. */
    logprobs: z.boolean().optional(),
    /** With logprobs: the most likely alternatives per token (0 to 20). */
    top_logprobs: z.number().int().min(0).max(MAX_TOP_LOGPROBS).optional(),
  })
  .strict()
  .superRefine((task, ctx) => {
    if (task.messages && task.prompt !== "") ctx.addIssue({ code: "custom", path: ["messages"], message: "give either prompt or messages, not both" });
    if (task.tools && !task.messages) ctx.addIssue({ code: "custom", path: ["tools"], message: "tools need messages (a chat), not a prompt" });
    if (task.tool_choice !== undefined && !task.tools && task.tool_choice !== "none" && task.tool_choice !== "auto") {
      ctx.addIssue({ code: "custom", path: ["tool_choice"], message: "tool_choice requires tools" });
    }
    const named = typeof task.tool_choice === "object" ? task.tool_choice.function.name : undefined;
    if (named !== undefined && task.tools && !task.tools.some((t) => t.function.name === named)) {
      ctx.addIssue({ code: "custom", path: ["tool_choice"], message: `tool_choice names '${named}', which is not among the tools` });
    }
    if (task.top_logprobs !== undefined && task.logprobs !== true) ctx.addIssue({ code: "custom", path: ["top_logprobs"], message: "top_logprobs requires logprobs: true" });
    if (task.tools && task.response_format && task.response_format.type !== "text" && task.tool_choice !== "none") {
      ctx.addIssue({ code: "custom", path: ["response_format"], message: "response_format with tools is not supported unless tool_choice is 'none'" });
    }
  });
export type TaskRequestV2 = z.infer<typeof TaskRequestV2>;

/** A request after admission defaults: ids are always present. */
export type TaskSpec = TaskRequestV2 & { task_id: string };

/**
 * A preparation step (docs/contract.md#tasks: upstream's OpenAPI shape) plus live progress. Nodes report the
 * steps of a pool that is getting its model (download, verification) in their pool snapshots;
 * the 202 of a task that has to wait for them lists them too.
 */
export const PreparationStep = z.object({
  id: z.string().max(1024),
  kind: z.enum(["engine_provision", "model_fetch", "pool_warmup"]),
  group: z.enum(["engine", "model", "pool"]),
  description: z.string().max(2048),
  /** Time still expected, from the measured rate; 0 when unknown. */
  estimated_ms: z.number().int().min(0),
  /** 0 when unknown. */
  bytes_total: z.number().int().min(0),
  status: z.enum(["pending", "running", "completed", "failed"]),
  bytes_done: z.number().int().min(0).optional(),
  pct: z.number().min(0).max(100).optional(),
  phase: z.string().max(32).optional(),
  /** Where the step runs (in a 202's list). */
  node_id: z.string().optional(),
  pool_id: z.string().optional(),
});
export type PreparationStep = z.infer<typeof PreparationStep>;

export const AdmissionResponseV2 = z.object({
  task_id: z.string(),
  queue_position: z.number().int(),
  predicted_start_ms: z.number().int(),
  backoff_ms: z.number().int(),
  streams: z.object({ sse: z.string(), sse_verbose: z.string() }).optional(),
  /** Present when no pool can serve the task yet: what the pools of its model are preparing. */
  preparation: z.object({ steps: z.array(PreparationStep) }).optional(),
});
export type AdmissionResponseV2 = z.infer<typeof AdmissionResponseV2>;

export const StartedData = z.object({
  queue_position: z.number().int(),
  predicted_start_ms: z.number().int(),
  /** Prompt tokens as the engine counted them, when it says. */
  tokens_in: z.number().int().optional(),
  engine: z.string().optional(),
  engine_version: z.string().optional(),
  pool_id: z.string().optional(),
  replica_id: z.string().optional(),
  node_id: z.string().optional(),
});
/** A token's log probability and its top alternatives, only on the token events of a task that asked (`logprobs`). */
export const TokenLogprobData = z.object({
  logprob: z.number().max(0),
  top: z.array(z.object({ t: z.string(), logprob: z.number().max(0) })).max(MAX_TOP_LOGPROBS).optional(),
});
export const TokenData = z.object({ t: z.string(), i: z.number().int(), lp: TokenLogprobData.optional() });
export const EndData = z.object({
  tokens_out: z.number().int(),
  decode_time_ms: z.number().int(),
  decode_ms: z.number().int(),
  canceled: z.boolean().optional(),
  /** Why generation stopped: max_tokens reached, a stop condition (EOS, stop string), or a cancel. */
  stop_reason: z.enum(["length", "stop", "canceled"]).optional(),
  /** Prompt tokens as the engine counted them, when it reports them only at the end. */
  tokens_in: z.number().int().optional(),
  /** The function calls the model made instead of (or after) text; stop_reason is then `stop`. */
  tool_calls: ToolCalls.optional(),
});
export const MetricsData = z
  .object({
    queue_depth: z.number().int(),
    on_time_probability: z.number(),
    kv_warmth: z.boolean(),
    tokens_budget_remaining: z.number(),
    time_budget_remaining_ms: z.number(),
    cost_budget_remaining: z.number(),
    tokens_out: z.number().int().optional(),
    human: z.string().optional(),
  })
  .catchall(z.unknown());

export type StreamEvent =
  | { type: "started"; data: z.infer<typeof StartedData> }
  | { type: "token"; data: z.infer<typeof TokenData> }
  | { type: "metrics"; data: z.infer<typeof MetricsData> }
  | { type: "end"; data: z.infer<typeof EndData> }
  | { type: "error"; data: ErrorEnvelope };
