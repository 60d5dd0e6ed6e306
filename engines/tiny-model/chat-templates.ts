// Chat templates for tiny test models: the `tokenizer.chat_template` of well-known model families,
// with the BOS/EOS and control tokens those models have, so a test can make a tiny GGUF that a
// chat engine renders as it would the real model (tests/engines/chat-templates.test.ts). The
// templates are the ones the models' tokenizer_config.json ship (Llama 3 Instruct, Mistral 7B
// Instruct v0.1, Gemma 1.1 Instruct, ChatML as Qwen and others use it).

import type { TinyModelOptions } from "./tiny-gguf.ts";

export type TinyChatFamily = "llama3" | "mistral" | "gemma" | "chatml" | "none";

export const TINY_CHAT_FAMILIES: Record<TinyChatFamily, Omit<TinyModelOptions, "seed" | "contextLength">> = {
  llama3: {
    name: "tiny llama3-style chat",
    bosToken: "<|begin_of_text|>",
    eosToken: "<|eot_id|>",
    controlTokens: ["<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>"],
    chatTemplate:
      "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + " +
      "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}" +
      "{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
  },
  mistral: {
    name: "tiny mistral-style chat",
    bosToken: "<s>",
    eosToken: "</s>",
    chatTemplate:
      "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
      "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
      "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}" +
      "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
  },
  gemma: {
    name: "tiny gemma-style chat",
    bosToken: "<bos>",
    eosToken: "<eos>",
    controlTokens: ["<start_of_turn>", "<end_of_turn>"],
    chatTemplate:
      "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
      "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
      "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
      "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
      "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}" +
      "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}",
  },
  chatml: {
    name: "tiny chatml chat",
    eosToken: "<|im_end|>",
    controlTokens: ["<|im_start|>", "<|endoftext|>"],
    chatTemplate:
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}" +
      "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
  },
  none: { name: "tiny model without a chat template", chatTemplate: null },
};
