// A task's `messages`: validated like the prompt (bounded), exactly one of prompt or messages.

import { expect, test } from "bun:test";
import { engineMessages, inputChars, MAX_CHAT_CHARS, MAX_CHAT_MESSAGES, TaskRequestV2 } from "./index.ts";

const base = { model_ref: "tiny", max_tokens: 4 };
const issue = (body: object) => {
  const parsed = TaskRequestV2.safeParse(body);
  return parsed.success ? undefined : { path: parsed.error.issues[0]!.path.join("."), message: parsed.error.issues[0]!.message };
};

test("a task carries messages (string or text parts) instead of a prompt; prompt-only tasks are unchanged", () => {
  const chat = TaskRequestV2.parse({ ...base, messages: [{ role: "system", content: "s" }, { role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] }] });
  expect(chat.prompt).toBe("");
  expect(engineMessages(chat.messages!)).toEqual([{ role: "system", content: "s" }, { role: "user", content: "ab" }]);
  expect(inputChars(chat)).toBe(3);
  const plain = TaskRequestV2.parse({ ...base, prompt: "hello" });
  expect(plain.messages).toBeUndefined();
  expect(inputChars(plain)).toBe(5);
  expect(TaskRequestV2.parse(base).prompt).toBe(""); // as before: prompt defaults to ""
});

test("both prompt and messages, unknown roles or parts, and oversized chats are refused, naming the field", () => {
  expect(issue({ ...base, prompt: "p", messages: [{ role: "user", content: "m" }] })).toEqual({ path: "messages", message: "give either prompt or messages, not both" });
  expect(issue({ ...base, messages: [] })?.path).toBe("messages");
  expect(issue({ ...base, messages: [{ role: "developer", content: "x" }] })?.path).toBe("messages.0.role");
  expect(issue({ ...base, messages: [{ role: "user", content: [{ type: "image_url", image_url: "u" }] }] })?.path).toStartWith("messages.0.content");
  expect(issue({ ...base, messages: [{ role: "user", content: "x", extra: 1 }] })?.path).toBe("messages.0");
  expect(issue({ ...base, messages: [{ role: "user" }] })?.path).toBe("messages.0.content");
  const many = Array.from({ length: MAX_CHAT_MESSAGES + 1 }, () => ({ role: "user", content: "" }));
  expect(issue({ ...base, messages: many })?.path).toBe("messages");
  const half = "x".repeat(MAX_CHAT_CHARS / 2 + 1);
  expect(issue({ ...base, messages: [{ role: "user", content: half }, { role: "assistant", content: half }] })).toEqual({ path: "messages", message: `the messages' text exceeds ${MAX_CHAT_CHARS} characters in all` });
});
