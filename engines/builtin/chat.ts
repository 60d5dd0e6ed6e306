// Chat messages → the model's prompt, for /v1/chat/completions: the GGUF's own chat template
// (`tokenizer.chat_template`, a Jinja template, rendered by node-llama-cpp), or ChatML when the
// model has none or its template cannot be used, as llama-server falls back to `chatml`. The
// template's turn-end markers that are plain text become stop strings, so a model that spells
// `<|im_end|>` in text (the tiny test model has no such token) still ends its turn there.

import { ChatMLChatWrapper, JinjaTemplateChatWrapper, SpecialTokensText, type ChatHistoryItem, type ChatWrapper, type LlamaModel, type LlamaText } from "node-llama-cpp";
import { RequestError, type ChatMessage } from "./params.ts";

export interface ChatPrompt {
  text: LlamaText;
  stop: string[];
}

export class ChatRenderer {
  readonly wrapper: ChatWrapper;
  /** "jinja" when the model's own template is used. */
  readonly kind: "jinja" | "chatml";

  constructor(model: LlamaModel, template: string | undefined, log: (line: string) => void) {
    let wrapper: ChatWrapper | undefined;
    if (template) {
      try {
        wrapper = new JinjaTemplateChatWrapper({ template, tokenizer: model.tokenizer });
      } catch (error) {
        log(`main: the model's chat template cannot be used (${(error as Error).message}); using chatml`);
      }
    }
    this.kind = wrapper ? "jinja" : "chatml";
    this.wrapper = wrapper ?? new ChatMLChatWrapper();
  }

  render(messages: ChatMessage[]): ChatPrompt {
    const history: ChatHistoryItem[] = messages.map((m, i): ChatHistoryItem => {
      switch (m.role) {
        case "system":
        case "developer":
          return { type: "system", text: m.content };
        case "user":
        case "tool":
        case "function":
          return { type: "user", text: m.content };
        case "assistant":
          return { type: "model", response: [m.content] };
        default:
          throw new RequestError(400, `"messages[${i}].role" must be system, developer, user, assistant or tool, got '${m.role}'`);
      }
    });
    history.push({ type: "model", response: [] }); // the turn the model writes
    let state: ReturnType<ChatWrapper["generateContextState"]>;
    try {
      state = this.wrapper.generateContextState({ chatHistory: history });
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
