// OpenAI request bodies → native tasks. Both endpoints become an `interactive` completion task;
// the chat one carries its messages (chat-messages.ts), which the engine renders with the model's
// own template. The task goes through TaskRequestV2 once more, so every native bound (prompt or
// messages size, stop count) holds here too.

import { TaskRequestV2, type TaskChatMessage } from "../../../contract/index.ts";
import { chatMessages } from "./chat-messages.ts";
import { refusedChatField, refusedCompletionField } from "./unsupported.ts";
import { DEFAULT_MAX_TOKENS, type ChatCompletionRequest, type CompletionRequest } from "./schemas.ts";

export interface MappedRequest {
  task: TaskRequestV2;
  model: string;
  stream: boolean;
  includeUsage: boolean;
  /** Text put before the generated text (completions with `echo: true`). */
  echo: string;
  /** Choices asked for: each is its own task (choices.ts). */
  n: number;
}

export type MapOutcome = { ok: true; value: MappedRequest } | { ok: false; message: string; param: string | null };

type Common = Pick<ChatCompletionRequest, "model" | "max_tokens" | "temperature" | "top_p" | "top_k" | "seed" | "stop" | "stream" | "stream_options" | "ignore_eos" | "n">;

function stops(stop: Common["stop"]): string[] {
  if (stop === undefined || stop === null) return [];
  return typeof stop === "string" ? [stop] : stop;
}

function toTask(req: Common, input: { prompt: string } | { messages: TaskChatMessage[] }, maxTokens: number | null | undefined, echo: string): MapOutcome {
  const stop = [...new Set(stops(req.stop))];
  const candidate = {
    model_ref: req.model,
    ...input,
    max_tokens: maxTokens ?? DEFAULT_MAX_TOKENS,
    priority: "interactive",
    ...(req.seed != null ? { seed: req.seed } : {}),
    ...(req.temperature != null ? { temperature: req.temperature } : {}),
    ...(req.top_p != null ? { top_p: req.top_p } : {}),
    ...(req.top_k != null ? { top_k: req.top_k } : {}),
    ...(stop.length ? { stop } : {}),
    ...(req.ignore_eos != null ? { ignore_eos: req.ignore_eos } : {}),
  };
  const parsed = TaskRequestV2.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0] ?? "");
    const where = issue?.path.join(".") || "request";
    return { ok: false, message: `${where}: ${issue?.message ?? "invalid"}`, param: field === "prompt" ? null : field || null };
  }
  return {
    ok: true,
    value: { task: parsed.data, model: req.model, stream: req.stream === true, includeUsage: req.stream_options?.include_usage === true, echo, n: req.n ?? 1 },
  };
}

/** The chat fields past sampling (tools, format, penalties), as the task takes them; null is "not given". */
export function chatFeatures(req: Partial<Pick<ChatCompletionRequest, "tools" | "tool_choice" | "response_format" | "presence_penalty" | "frequency_penalty" | "logit_bias" | "logprobs" | "top_logprobs">>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (req.tools != null && req.tools.length > 0) out.tools = req.tools;
  if (req.tool_choice != null && req.tools != null && req.tools.length > 0) out.tool_choice = req.tool_choice;
  if (req.response_format != null) out.response_format = req.response_format;
  if (req.presence_penalty != null) out.presence_penalty = req.presence_penalty;
  if (req.frequency_penalty != null) out.frequency_penalty = req.frequency_penalty;
  if (req.logit_bias != null) out.logit_bias = req.logit_bias;
  if (req.logprobs) out.logprobs = true;
  if (req.top_logprobs != null) out.top_logprobs = req.top_logprobs;
  return out;
}

export function fromChat(req: ChatCompletionRequest): MapOutcome {
  const refused = refusedChatField(req);
  if (refused) return { ok: false, ...refused };
  const mapped = chatMessages(req.messages);
  if (!mapped.ok) return { ok: false, message: mapped.message, param: mapped.param };
  return toTask(req, { messages: mapped.messages, ...chatFeatures(req) } as { messages: TaskChatMessage[] }, req.max_completion_tokens ?? req.max_tokens, "");
}

export function fromCompletion(req: CompletionRequest): MapOutcome {
  const refused = refusedCompletionField(req);
  if (refused) return { ok: false, ...refused };
  const prompt = typeof req.prompt === "string" ? req.prompt : req.prompt[0]!;
  // Legacy `logprobs: N`: each token's log probability with N alternatives.
  const logprobs = req.logprobs != null ? { logprobs: true, top_logprobs: req.logprobs } : {};
  // Penalties and logit_bias as on chat: honoured where the engine has them, else a 400 at admission.
  const sampling = chatFeatures({ presence_penalty: req.presence_penalty, frequency_penalty: req.frequency_penalty, logit_bias: req.logit_bias });
  return toTask(req, { prompt, ...logprobs, ...sampling } as { prompt: string }, req.max_tokens, req.echo ? prompt : "");
}
