// How chat messages become one prompt. Tasks carry plain text, so the control plane renders the
// conversation itself, in one function (the built-in engine may later apply the model's own
// template instead; this is the only place to change).
//
// The template is ChatML, which many instruction-tuned GGUF models were trained on:
//
//   <|im_start|>system\n{content}<|im_end|>\n
//   <|im_start|>user\n{content}<|im_end|>\n
//   <|im_start|>assistant\n            ← the model continues here
//
// `developer` turns render as `system` and `function` as `tool`; a message's `name` is appended to
// its role (`user name=alice`). Content is a string, null (an assistant turn that only called
// tools) or an array of text parts, joined without separator; other parts (images, audio) are
// refused with 400, since no engine here takes them. The end marker is also a stop sequence, so a
// model that writes it as text still ends its turn there.

import type { ChatMessage } from "./schemas.ts";

export const CHAT_END = "<|im_end|>";
const START = "<|im_start|>";
const TEXT_PARTS = new Set(["text", "input_text"]);

export type ChatPrompt = { ok: true; prompt: string; stop: string[] } | { ok: false; message: string; param: string };

function roleOf(m: ChatMessage): string {
  const role = m.role === "developer" ? "system" : m.role === "function" ? "tool" : m.role;
  return m.name ? `${role} name=${m.name}` : role;
}

export function chatPrompt(messages: ChatMessage[]): ChatPrompt {
  let prompt = "";
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
    prompt += `${START}${roleOf(m)}\n${text}${CHAT_END}\n`;
  }
  return { ok: true, prompt: `${prompt}${START}assistant\n`, stop: [CHAT_END] };
}
