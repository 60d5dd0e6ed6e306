// Chat messages on a task (POST /v2/tasks `messages`, the WebSocket's submit, and what
// /v1/chat/completions maps onto). The control plane renders no template: the messages travel to
// the node as they are (content flattened to text), and each engine applies the model's own chat
// template (docs/api.md#chat-messages).

import { z } from "zod";

/** Most messages in one task (OpenAI accepts as many; a context holds far fewer). */
export const MAX_CHAT_MESSAGES = 10_000;
/** Most text parts in one message's content. */
export const MAX_CONTENT_PARTS = 1_000;
/** Characters of all message text together: the same bound as `prompt`. */
export const MAX_CHAT_CHARS = 1_000_000;

export const ChatRole = z.enum(["system", "user", "assistant", "tool"]);
export type ChatRole = z.infer<typeof ChatRole>;

export const ChatTextPart = z.object({ type: z.literal("text"), text: z.string().max(MAX_CHAT_CHARS) }).strict();

export const TaskChatMessage = z
  .object({
    role: ChatRole,
    /** A string, or text parts joined without a separator. */
    content: z.union([z.string().max(MAX_CHAT_CHARS), z.array(ChatTextPart).max(MAX_CONTENT_PARTS)]),
  })
  .strict();
export type TaskChatMessage = z.infer<typeof TaskChatMessage>;

export const TaskChatMessages = z
  .array(TaskChatMessage)
  .min(1)
  .max(MAX_CHAT_MESSAGES)
  .superRefine((messages, ctx) => {
    if (chatChars(messages) > MAX_CHAT_CHARS) ctx.addIssue({ code: "custom", message: `the messages' text exceeds ${MAX_CHAT_CHARS} characters in all` });
  })
  .describe(
    `A chat instead of a prompt (never both): at most ${MAX_CHAT_MESSAGES} messages, ${MAX_CHAT_CHARS} characters of text in all. ` +
      "The engine renders them with the model's own chat template (docs/api.md#chat-messages).",
  );

/** A message as engines take it: its text in one string. */
export interface EngineChatMessage {
  role: ChatRole;
  content: string;
}

export function messageText(m: TaskChatMessage): string {
  if (typeof m.content === "string") return m.content;
  let text = "";
  for (const part of m.content) text += part.text;
  return text;
}

/** Characters of all the messages' text. */
export function chatChars(messages: readonly TaskChatMessage[]): number {
  let n = 0;
  for (const m of messages) n += typeof m.content === "string" ? m.content.length : m.content.reduce((s, p) => s + p.text.length, 0);
  return n;
}

export function engineMessages(messages: readonly TaskChatMessage[]): EngineChatMessage[] {
  return messages.map((m) => ({ role: m.role, content: messageText(m) }));
}

/** The text a task sends (its prompt, or its messages' text), for size estimates; never rendered. */
export function inputChars(task: { prompt: string; messages?: readonly TaskChatMessage[] }): number {
  return task.messages ? chatChars(task.messages) : task.prompt.length;
}
