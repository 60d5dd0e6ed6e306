// Fields that would change the answer and that no engine honours are refused with the field
// named; fields that only label a request pass; the legacy completion's penalties reach the task.

import { expect, test } from "bun:test";
import { fromChat, fromCompletion } from "./request.ts";
import { ChatCompletionRequest, CompletionRequest } from "./schemas.ts";

const chat = (extra: Record<string, unknown>) => fromChat(ChatCompletionRequest.parse({ model: "m", messages: [{ role: "user", content: "hi" }], ...extra }));
const completion = (extra: Record<string, unknown>) => fromCompletion(CompletionRequest.parse({ model: "m", prompt: "hi", ...extra }));

test("chat: legacy functions, audio, predicted outputs, web search and reasoning effort are refused by name", () => {
  for (const [field, value] of [
    ["functions", [{ name: "f", parameters: {} }]],
    ["function_call", "auto"],
    ["audio", { voice: "alloy", format: "wav" }],
    ["modalities", ["text", "audio"]],
    ["prediction", { type: "content", content: "x" }],
    ["web_search_options", {}],
    ["reasoning_effort", "low"],
  ] as const) {
    expect(chat({ [field]: value })).toMatchObject({ ok: false, param: field });
  }
  // Labels and routing only: accepted, and the text modality alone is fine.
  expect(chat({ user: "u1", metadata: { a: "b" }, store: false, service_tier: "auto", modalities: ["text"] }).ok).toBe(true);
});

test("completions: a suffix is refused; penalties and logit_bias reach the task as on chat", () => {
  expect(completion({ suffix: "end" })).toMatchObject({ ok: false, param: "suffix" });
  expect(completion({ suffix: "" }).ok).toBe(true);
  const mapped = completion({ presence_penalty: 0.5, frequency_penalty: 0.25, logit_bias: { "42": -100 } });
  expect(mapped.ok && mapped.value.task).toMatchObject({ presence_penalty: 0.5, frequency_penalty: 0.25, logit_bias: { "42": -100 } });
});
