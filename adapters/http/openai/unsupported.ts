// OpenAI request fields that would change what the model returns and that no engine here honours.
// Requests stay loose for the fields that only label or route a request (`user`, `metadata`,
// `store`, `service_tier`, ...): clients send them and ignoring them changes nothing. These, on the
// other hand, are refused with a 400 naming the field, never silently ignored.

type Check = { given(value: unknown): boolean; why: string };

const present = (v: unknown) => v !== undefined && v !== null;

const CHAT: Record<string, Check> = {
  functions: { given: present, why: "legacy function calling is not supported; use tools" },
  function_call: { given: present, why: "legacy function calling is not supported; use tool_choice" },
  audio: { given: present, why: "audio output is not supported" },
  modalities: { given: (v) => Array.isArray(v) && v.some((m) => m !== "text"), why: "only the text modality is supported" },
  prediction: { given: present, why: "predicted outputs are not supported" },
  web_search_options: { given: present, why: "web search is not supported" },
  reasoning_effort: { given: present, why: "reasoning effort is not supported by these engines" },
};

const COMPLETION: Record<string, Check> = {
  suffix: { given: (v) => typeof v === "string" && v.length > 0, why: "insertion (a suffix) is not supported" },
};

function firstRefused(req: object, checks: Record<string, Check>): { param: string; message: string } | undefined {
  for (const [field, check] of Object.entries(checks)) {
    if (check.given((req as Record<string, unknown>)[field])) return { param: field, message: `${field}: ${check.why}` };
  }
  return undefined;
}

export const refusedChatField = (req: object) => firstRefused(req, CHAT);
export const refusedCompletionField = (req: object) => firstRefused(req, COMPLETION);
