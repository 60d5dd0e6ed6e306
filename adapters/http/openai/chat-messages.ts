// OpenAI chat messages → the task's `messages`. Nothing is rendered here: the engine applies the
// model's own chat template (docs/api.md#chat-messages). OpenAI's extra roles map onto the task's
// four: `developer` is `system`, `function` is `tool`. Content is a string, null (an assistant
// turn that only called tools: empty text) or an array of text parts, joined without separator;
// other parts (images, audio) are refused with 400, since no engine here takes them. A message's
// `name` is not carried (chat templates do not render it). An assistant's `tool_calls` and a tool
// message's `tool_call_id` are.

import type { TaskChatMessage } from "../../../contract/index.ts";
import type { ChatMessage } from "./schemas.ts";

const TEXT_PARTS = new Set(["text", "input_text"]);

export type MappedMessages = { ok: true; messages: TaskChatMessage[] } | { ok: false; message: string; param: string };

function roleOf(m: ChatMessage): TaskChatMessage["role"] {
  return m.role === "developer" ? "system" : m.role === "function" ? "tool" : m.role;
}

export function chatMessages(messages: ChatMessage[]): MappedMessages {
  const out: TaskChatMessage[] = [];
  for (const [i, m] of messages.entries()) {
    let text = "";
    if (typeof m.content === "string") text = m.content;
    else if (Array.isArray(m.content)) {
      for (const [j, part] of m.content.entries()) {
        if (!TEXT_PARTS.has(part.type) || typeof part.text !== "string") {
          return { ok: false, message: `content parts of type '${part.type}' are not supported; only text parts are`, param: `messages.${i}.content.${j}` };
        }
        text += part.text;
      }
    }
    const role = roleOf(m);
    const calls = role === "assistant" && m.tool_calls?.length
      ? m.tool_calls.map((c) => ({ id: c.id, type: "function" as const, function: { name: c.function.name, arguments: c.function.arguments ?? "{}" } }))
      : undefined;
    out.push({ role, content: text, ...(calls ? { tool_calls: calls } : {}), ...(role === "tool" && m.tool_call_id ? { tool_call_id: m.tool_call_id } : {}) });
  }
  return { ok: true, messages: out };
}
