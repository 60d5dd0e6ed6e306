// Chat messages → the model's prompt, for /v1/chat/completions (where the node sends every chat
// task): the GGUF's own chat template (`tokenizer.chat_template`), through node-llama-cpp's chat
// wrapper resolution. resolveChatWrapper renders the Jinja template (JinjaTemplateChatWrapper), or
// a specialised wrapper (Llama 3, Mistral, Gemma, Qwen, ChatML, …) when it renders the template
// exactly the same. A model without a template, or whose template cannot be used, gets ChatML, as
// llama-server falls back to `chatml`; the engine says so in its log once, at load. The template's
// turn-end markers that are plain text become stop strings, so a model that spells `<|im_end|>` in
// text (the tiny test model has no such token) still ends its turn there.

import { ChatMLChatWrapper, resolveChatWrapper, SpecialTokensText, type ChatHistoryItem, type ChatModelFunctions, type ChatModelResponse, type ChatWrapper, type GbnfJsonSchema, type LlamaModel, type LlamaText } from "node-llama-cpp";
import { RequestError, type ChatMessage, type ToolSpec } from "./params.ts";
import { grammarSchema } from "./structured.ts";

function parseArgs(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export interface ChatPrompt {
  text: LlamaText;
  stop: string[];
}

export class ChatRenderer {
  readonly wrapper: ChatWrapper;
  /** "template" when the model's own template is used; "chatml" for the fallback. */
  readonly kind: "template" | "chatml";

  constructor(model: LlamaModel, template: string | undefined, log: (line: string) => void) {
    let wrapper: ChatWrapper | undefined;
    if (template) {
      try {
        // Only the model's template: no guessing from file names when it cannot be used.
        wrapper = resolveChatWrapper(model, { warningLogs: false, fallbackToOtherWrappersOnJinjaError: false });
      } catch (error) {
        log(`main: the model's chat template cannot be used (${(error as Error).message}); chat prompts use chatml`);
      }
    } else log("main: the model has no chat template (tokenizer.chat_template); chat prompts use chatml");
    this.kind = wrapper ? "template" : "chatml";
    this.wrapper = wrapper ?? new ChatMLChatWrapper();
  }

  /** The wrapper's name, for the load log line (e.g. "Llama 3", "Jinja template", "ChatML"). */
  get name(): string {
    return this.wrapper.wrapperName;
  }

  /**
   * The prompt for `messages`; `tools` are documented in the wrapper's own way (the template's
   * tools section, or node-llama-cpp's system text). An assistant turn's tool_calls become the
   * wrapper's function calls, each with the result of the `tool` message that answers it.
   */
  render(messages: ChatMessage[], tools: ToolSpec[] = []): ChatPrompt {
    const results = new Map<string, string>();
    for (const m of messages) if (m.role === "tool" && m.tool_call_id !== undefined) results.set(m.tool_call_id, m.content);
    const answered = new Set<string>();
    for (const m of messages) for (const c of m.tool_calls ?? []) if (results.has(c.id)) answered.add(c.id);
    const history: ChatHistoryItem[] = [];
    messages.forEach((m, i) => {
      switch (m.role) {
        case "system":
        case "developer":
          return void history.push({ type: "system", text: m.content });
        case "tool":
        case "function":
          if (m.tool_call_id !== undefined && answered.has(m.tool_call_id)) return; // rendered with its call
          return void history.push({ type: "user", text: m.content });
        case "user":
          return void history.push({ type: "user", text: m.content });
        case "assistant": {
          const response: ChatModelResponse["response"] = m.content ? [m.content] : [];
          for (const c of m.tool_calls ?? []) response.push({ type: "functionCall", name: c.name, params: parseArgs(c.arguments), result: results.get(c.id) ?? "" });
          return void history.push({ type: "model", response });
        }
        default:
          throw new RequestError(400, `"messages[${i}].role" must be system, developer, user, assistant or tool, got '${m.role}'`);
      }
    });
    history.push({ type: "model", response: [] }); // the turn the model writes
    let state: ReturnType<ChatWrapper["generateContextState"]>;
    try {
      const functions: ChatModelFunctions | undefined = tools.length
        ? Object.fromEntries(tools.map((t) => [t.name, { ...(t.description ? { description: t.description } : {}), ...(t.parameters ? { params: grammarSchema(t.parameters) as GbnfJsonSchema } : {}) }]))
        : undefined;
      state = this.wrapper.generateContextState({ chatHistory: history, availableFunctions: functions, documentFunctionParams: true });
    } catch (error) {
      throw new RequestError(400, `the chat template cannot render these messages: ${(error as Error).message}`);
    }
    const stop = new Set<string>();
    for (const trigger of state.stopGenerationTriggers) {
      // Special tokens (EOS, EOT) end generation as tokens already; text markers need a stop string.
      if (!trigger.values.every((v) => typeof v === "string" || v instanceof SpecialTokensText)) continue;
      const text = trigger.toString().trimEnd();
      if (text) stop.add(text);
    }
    return { text: state.contextText, stop: [...stop] };
  }
}
