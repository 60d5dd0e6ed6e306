// What a task asks the engine on its node: the prompt (or chat), the sampling settings, and the
// trace context and correlation id the node logs with and passes on to the engine.

import { engineMessages, type EngineRequest, type TaskSpec } from "../../../contract/index.ts";
import type { TraceCarrier } from "../../../contract/trace.ts";

export function engineRequest(spec: TaskSpec, tracing: { trace?: TraceCarrier; correlation_id: string }): EngineRequest {
  return {
    task_id: spec.task_id,
    prompt: spec.prompt,
    ...(spec.messages ? { messages: engineMessages(spec.messages) } : {}),
    max_tokens: spec.max_tokens,
    seed: spec.seed,
    temperature: spec.temperature,
    top_p: spec.top_p,
    top_k: spec.top_k,
    stop: spec.stop,
    ignore_eos: spec.ignore_eos,
    ...(spec.tools ? { tools: spec.tools } : {}),
    ...(spec.tool_choice !== undefined ? { tool_choice: spec.tool_choice } : {}),
    ...(spec.response_format ? { response_format: spec.response_format } : {}),
    ...(spec.presence_penalty !== undefined ? { presence_penalty: spec.presence_penalty } : {}),
    ...(spec.frequency_penalty !== undefined ? { frequency_penalty: spec.frequency_penalty } : {}),
    ...(spec.logit_bias ? { logit_bias: spec.logit_bias } : {}),
    ...(spec.logprobs ? { logprobs: true, top_logprobs: spec.top_logprobs ?? 0 } : {}),
    ...tracing,
  };
}
