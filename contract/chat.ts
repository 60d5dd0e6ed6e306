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

/** Most tool calls in one assistant message, and most tools in one request. */
export const MAX_TOOL_CALLS = 64;
export const MAX_TOOLS = 128;
/** Longest tool call id, function name, and arguments text. */
const MAX_CALL_ID = 256;
const FunctionName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "a function name is 1-64 letters, digits, '_', '.' or '-'");

/** A tool call the model made: `arguments` is the JSON text of the call's arguments, as OpenAI sends it. */
export const ToolCall = z
  .object({
    id: z.string().min(1).max(MAX_CALL_ID),
    type: z.literal("function"),
    function: z.object({ name: FunctionName, arguments: z.string().max(MAX_CHAT_CHARS) }).strict(),
  })
  .strict();
export type ToolCall = z.infer<typeof ToolCall>;
export const ToolCalls = z.array(ToolCall).min(1).max(MAX_TOOL_CALLS);

export const TaskChatMessage = z
  .object({
    role: ChatRole,
    /** A string, or text parts joined without a separator. */
    content: z.union([z.string().max(MAX_CHAT_CHARS), z.array(ChatTextPart).max(MAX_CONTENT_PARTS)]),
    /** An assistant turn's calls (its content may then be empty). */
    tool_calls: ToolCalls.optional(),
    /** A `tool` message: the call it answers. */
    tool_call_id: z.string().min(1).max(MAX_CALL_ID).optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.tool_calls && m.role !== "assistant") ctx.addIssue({ code: "custom", path: ["tool_calls"], message: "only an assistant message has tool_calls" });
    if (m.tool_call_id !== undefined && m.role !== "tool") ctx.addIssue({ code: "custom", path: ["tool_call_id"], message: "only a tool message has a tool_call_id" });
  });
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
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

/** Bytes of JSON Schema one tool's parameters or one response format may take (serialised). */
export const MAX_SCHEMA_CHARS = 65_536;

/** A JSON Schema object, bounded in size; its meaning is the engine's to check. */
export const JsonSchemaObject = z
  .record(z.string(), z.unknown())
  .refine((s) => JSON.stringify(s).length <= MAX_SCHEMA_CHARS, `a schema may take at most ${MAX_SCHEMA_CHARS} characters`);

/** A function the model may call (OpenAI's chat `tools` entry). */
export const ChatTool = z
  .object({
    type: z.literal("function"),
    function: z
      .object({
        name: FunctionName,
        description: z.string().max(8192).optional(),
        /** JSON Schema of the arguments; absent: no arguments. */
        parameters: JsonSchemaObject.optional(),
        strict: z.boolean().nullish(),
      })
      .strict(),
  })
  .strict();
export type ChatTool = z.infer<typeof ChatTool>;

/** `auto` (the model decides), `none`, `required` (some call), or one named function. */
export const ToolChoice = z.union([
  z.enum(["auto", "none", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: FunctionName }).strict() }).strict(),
]);
export type ToolChoice = z.infer<typeof ToolChoice>;

/** Structured output: any JSON object, or JSON valid against a schema. */
export const ResponseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }).strict(),
  z.object({ type: z.literal("json_object") }).strict(),
  z
    .object({
      type: z.literal("json_schema"),
      json_schema: z
        .object({ name: z.string().min(1).max(64), description: z.string().max(8192).optional(), schema: JsonSchemaObject.optional(), strict: z.boolean().nullish() })
        .strict(),
    })
    .strict(),
]);
export type ResponseFormat = z.infer<typeof ResponseFormat>;

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
  return messages.map((m) => ({
    role: m.role,
    content: messageText(m),
    ...(m.tool_calls ? { tool_calls: m.tool_calls } : {}),
    ...(m.tool_call_id !== undefined ? { tool_call_id: m.tool_call_id } : {}),
  }));
}

/** The text a task sends (its prompt, or its messages' text), for size estimates; never rendered. */
export function inputChars(task: { prompt: string; messages?: readonly TaskChatMessage[] }): number {
  return task.messages ? chatChars(task.messages) : task.prompt.length;
}
