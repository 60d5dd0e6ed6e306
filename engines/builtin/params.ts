// Request bodies → one sampling shape, checked once, with llama-server's parameter names for
// /completion and OpenAI's for /v1/*. Unknown fields are ignored (llama-server does the same);
// a known field of the wrong type is a 400 in llama-server's error shape.
//
import type { LlamaGrammar } from "node-llama-cpp";
import { MAX_TOP } from "./logprobs.ts";

// Defaults follow llama-server (top_k 40, top_p 0.95, min_p 0.05) except temperature: 0
// (greedy) rather than 0.8, so that a request without parameters is reproducible.

export interface Sampling {
  /** Tokens to generate at most; -1: until the slot's context is full. */
  n_predict: number;
  /** -1: the engine's --seed, or a random one. */
  seed: number;
  temperature: number;
  top_k: number;
  top_p: number;
  min_p: number;
  stop: string[];
  ignore_eos: boolean;
  /** OpenAI's penalties over the tokens generated so far (0: off). */
  presence_penalty: number;
  frequency_penalty: number;
  /** Token → bias added to its logit; false: never. */
  logit_bias: [number, number | false][];
  /** Constrain the output: JSON valid against a schema, or any JSON value. */
  format?: OutputFormat;
  /** Report each token's log probability with this many alternatives (0-20); absent: none, at no cost. */
  logprobs?: number;
  /** The grammar made from `format` (or a tool call's), set by the route before generation. */
  grammar?: LlamaGrammar;
}

export type OutputFormat = { kind: "json" } | { kind: "schema"; schema: Record<string, unknown> };

/** A function the model may call, and the choice (OpenAI's chat `tools` and `tool_choice`). */
export interface ToolSpec {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}
export type ToolChoiceSpec = "auto" | "none" | "required" | { name: string };

/** A call in an assistant message of the history. */
export interface HistoryCall {
  id: string;
  name: string;
  arguments: string;
}

export interface CompletionBody extends Sampling {
  prompt: string | number[];
  stream: boolean;
}

export interface ChatMessage {
  role: string;
  content: string;
  tool_calls?: HistoryCall[];
  tool_call_id?: string;
}

export interface OpenAiBody extends Sampling {
  model?: string;
  stream: boolean;
  include_usage: boolean;
}

/** A request refused before any work; `type` is llama-server's error type. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = status === 400 ? "invalid_request_error" : status === 404 ? "not_found_error" : status === 503 ? "unavailable_error" : "server_error",
  ) {
    super(message);
    this.name = "RequestError";
  }
}

type Body = Record<string, unknown>;

function object(body: unknown): Body {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new RequestError(400, "request body must be a JSON object");
  return body as Body;
}

function number(b: Body, key: string, fallback: number, opts: { int?: boolean; min?: number; max?: number } = {}): number {
  const v = b[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new RequestError(400, `"${key}" must be a number`);
  if (opts.int && !Number.isInteger(v)) throw new RequestError(400, `"${key}" must be a whole number`);
  if (opts.min !== undefined && v < opts.min) throw new RequestError(400, `"${key}" must be >= ${opts.min}`);
  if (opts.max !== undefined && v > opts.max) throw new RequestError(400, `"${key}" must be <= ${opts.max}`);
  return v;
}

function boolean(b: Body, key: string, fallback: boolean): boolean {
  const v = b[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") throw new RequestError(400, `"${key}" must be a boolean`);
  return v;
}

function stops(b: Body): string[] {
  const v = b.stop;
  if (v === undefined || v === null) return [];
  if (typeof v === "string") return v === "" ? [] : [v];
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) throw new RequestError(400, `"stop" must be a string or an array of strings`);
  return (v as string[]).filter((s) => s !== "");
}

function sampling(b: Body, nPredict: number): Sampling {
  return {
    n_predict: nPredict,
    seed: number(b, "seed", -1, { int: true, min: -1, max: 0xffffffff }),
    temperature: number(b, "temperature", 0, { min: 0 }),
    top_k: number(b, "top_k", 40, { int: true, min: 0 }),
    top_p: number(b, "top_p", 0.95, { min: 0, max: 1 }),
    min_p: number(b, "min_p", 0.05, { min: 0, max: 1 }),
    stop: stops(b),
    ignore_eos: boolean(b, "ignore_eos", false),
    presence_penalty: number(b, "presence_penalty", 0, { min: -2, max: 2 }),
    frequency_penalty: number(b, "frequency_penalty", 0, { min: -2, max: 2 }),
    logit_bias: logitBias(b.logit_bias),
    format: outputFormat(b),
  };
}

function isObject(v: unknown): v is Body {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `{"<token>": bias}` (OpenAI) or `[[token, bias | false]]` (llama-server). */
function logitBias(v: unknown): [number, number | false][] {
  if (v === undefined || v === null) return [];
  const pairs: [unknown, unknown][] = Array.isArray(v) ? v.map((p) => (Array.isArray(p) ? [p[0], p[1]] : [undefined, undefined])) : isObject(v) ? Object.entries(v) : [];
  if (!Array.isArray(v) && !isObject(v)) throw new RequestError(400, `"logit_bias" must be an object of token ids to numbers, or an array of [token, bias] pairs`);
  return pairs.map(([t, bias]) => {
    const token = typeof t === "string" && /^\d+$/.test(t) ? Number(t) : t;
    if (typeof token !== "number" || !Number.isInteger(token) || token < 0) throw new RequestError(400, `"logit_bias" keys must be token ids`);
    if (bias === false) return [token, false];
    if (typeof bias !== "number" || !Number.isFinite(bias)) throw new RequestError(400, `"logit_bias" values must be numbers (or false)`);
    return [token, bias <= -100 ? false : bias];
  });
}

/** `response_format` (OpenAI) or `json_schema` (llama-server's /completion). */
function outputFormat(b: Body): OutputFormat | undefined {
  if (isObject(b.json_schema)) return Object.keys(b.json_schema).length === 0 ? { kind: "json" } : { kind: "schema", schema: b.json_schema };
  const f = b.response_format;
  if (f === undefined || f === null) return undefined;
  if (!isObject(f)) throw new RequestError(400, `"response_format" must be an object`);
  if (f.type === "text") return undefined;
  if (f.type === "json_object") return isObject(f.schema) ? { kind: "schema", schema: f.schema } : { kind: "json" };
  if (f.type === "json_schema") {
    const spec = f.json_schema;
    if (!isObject(spec)) throw new RequestError(400, `"response_format.json_schema" must be an object`);
    return isObject(spec.schema) ? { kind: "schema", schema: spec.schema } : { kind: "json" };
  }
  throw new RequestError(400, `"response_format.type" must be text, json_object or json_schema`);
}

function tools(b: Body): { tools: ToolSpec[]; tool_choice: ToolChoiceSpec } {
  const list = b.tools;
  if (list === undefined || list === null) {
    if (b.tool_choice !== undefined && b.tool_choice !== null && b.tool_choice !== "none" && b.tool_choice !== "auto") throw new RequestError(400, `"tool_choice" requires "tools"`);
    return { tools: [], tool_choice: "none" };
  }
  if (!Array.isArray(list)) throw new RequestError(400, `"tools" must be an array`);
  const out = list.map((t, i): ToolSpec => {
    const fn = isObject(t) && t.type === "function" && isObject(t.function) ? t.function : undefined;
    if (!fn || typeof fn.name !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(fn.name)) throw new RequestError(400, `"tools[${i}]" must be {type:"function", function:{name, parameters?}}`);
    if (fn.parameters !== undefined && fn.parameters !== null && !isObject(fn.parameters)) throw new RequestError(400, `"tools[${i}].function.parameters" must be a JSON Schema object`);
    return { name: fn.name, ...(typeof fn.description === "string" ? { description: fn.description } : {}), ...(isObject(fn.parameters) ? { parameters: fn.parameters } : {}) };
  });
  const c = b.tool_choice;
  let choice: ToolChoiceSpec = "auto";
  if (c === "auto" || c === "none" || c === "required") choice = c;
  else if (isObject(c) && isObject(c.function) && typeof c.function.name === "string") {
    const name = c.function.name;
    if (!out.some((t) => t.name === name)) throw new RequestError(400, `"tool_choice" names '${name}', which is not among the tools`);
    choice = { name };
  } else if (c !== undefined && c !== null) throw new RequestError(400, `"tool_choice" must be auto, none, required or {type:"function", function:{name}}`);
  return { tools: out, tool_choice: choice };
}

function historyCalls(v: unknown, i: number): HistoryCall[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new RequestError(400, `"messages[${i}].tool_calls" must be an array`);
  return v.map((c, k) => {
    const fn = isObject(c) && isObject(c.function) ? c.function : undefined;
    if (!fn || typeof fn.name !== "string") throw new RequestError(400, `"messages[${i}].tool_calls[${k}]" must have a function name`);
    return { id: typeof c.id === "string" ? c.id : `call_${k}`, name: fn.name, arguments: typeof fn.arguments === "string" ? fn.arguments : "{}" };
  });
}

/** A prompt: text, token ids, or a one-element array of either (several prompts: not supported). */
function prompt(v: unknown): string | number[] {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every((t) => typeof t === "number" && Number.isInteger(t) && t >= 0)) return v as number[];
    if (v.length === 1) return prompt(v[0]);
    if (v.length > 1) throw new RequestError(400, `"prompt" with several prompts is not supported; send one request per prompt`);
  }
  throw new RequestError(400, `"prompt" must be a string or an array of token ids`);
}

/** POST /completion (llama-server's native API). */
export function parseCompletion(raw: unknown): CompletionBody {
  const b = object(raw);
  if (b.prompt === undefined) throw new RequestError(400, `"prompt" is required`);
  const nPredict = number(b, "n_predict", number(b, "max_tokens", -1, { int: true, min: -1 }), { int: true, min: -1 });
  // llama-server's n_probs: alternatives per token (0: no probabilities at all).
  const nProbs = number(b, "n_probs", 0, { int: true, min: 0, max: MAX_TOP });
  return { prompt: prompt(b.prompt), stream: boolean(b, "stream", false), ...sampling(b, nPredict), ...(nProbs > 0 ? { logprobs: nProbs } : {}) };
}

function openAiCommon(b: Body, maxKeys: string[]): OpenAiBody {
  const n = number(b, "n", 1, { int: true, min: 1 });
  if (n !== 1) throw new RequestError(400, `"n" must be 1: one completion choice per request`);
  let nPredict = -1;
  for (const key of maxKeys) if (b[key] !== undefined && b[key] !== null) nPredict = number(b, key, -1, { int: true, min: 0 });
  const options = b.stream_options;
  if (options !== undefined && options !== null && (typeof options !== "object" || Array.isArray(options))) throw new RequestError(400, `"stream_options" must be an object`);
  if (b.model !== undefined && b.model !== null && typeof b.model !== "string") throw new RequestError(400, `"model" must be a string`);
  return {
    model: b.model as string | undefined,
    stream: boolean(b, "stream", false),
    include_usage: options ? boolean(options as Body, "include_usage", false) : false,
    ...sampling(b, nPredict),
  };
}

/** POST /v1/completions. */
export function parseOpenAiCompletion(raw: unknown): OpenAiBody & { prompt: string | number[] } {
  const b = object(raw);
  if (b.prompt === undefined) throw new RequestError(400, `"prompt" is required`);
  // The legacy `logprobs` is the number of alternatives per token (absent: no probabilities).
  const lp = b.logprobs === undefined || b.logprobs === null ? undefined : number(b, "logprobs", 0, { int: true, min: 0, max: MAX_TOP });
  return { ...openAiCommon(b, ["max_tokens"]), prompt: prompt(b.prompt), ...(lp === undefined ? {} : { logprobs: lp }) };
}

/** POST /v1/chat/completions; text content only (string or text parts). */
export function parseChatCompletion(raw: unknown): OpenAiBody & { messages: ChatMessage[]; tools: ToolSpec[]; tool_choice: ToolChoiceSpec } {
  const b = object(raw);
  if (!Array.isArray(b.messages) || b.messages.length === 0) throw new RequestError(400, `"messages" must be a non-empty array`);
  const messages = b.messages.map((m, i): ChatMessage => {
    if (typeof m !== "object" || m === null || typeof (m as Body).role !== "string") throw new RequestError(400, `"messages[${i}].role" must be a string`);
    const { role, content } = m as Body;
    const calls = historyCalls((m as Body).tool_calls, i);
    const id = (m as Body).tool_call_id;
    const extra = { ...(calls ? { tool_calls: calls } : {}), ...(typeof id === "string" ? { tool_call_id: id } : {}) };
    if (content === undefined || content === null) return { role: role as string, content: "", ...extra };
    if (typeof content === "string") return { role: role as string, content, ...extra };
    if (Array.isArray(content)) {
      let text = "";
      for (const part of content) {
        if (typeof part !== "object" || part === null || (part as Body).type !== "text" || typeof (part as Body).text !== "string") {
          throw new RequestError(400, `"messages[${i}].content": only text parts are supported`);
        }
        text += (part as Body).text;
      }
      return { role: role as string, content: text, ...extra };
    }
    throw new RequestError(400, `"messages[${i}].content" must be a string or an array of text parts`);
  });
  const top = number(b, "top_logprobs", 0, { int: true, min: 0, max: MAX_TOP });
  const logprobs = boolean(b, "logprobs", false);
  if (!logprobs && b.top_logprobs !== undefined && b.top_logprobs !== null) throw new RequestError(400, `"top_logprobs" requires "logprobs": true`);
  const body = { ...openAiCommon(b, ["max_tokens", "max_completion_tokens"]), messages, ...tools(b), ...(logprobs ? { logprobs: top } : {}) };
  if (body.tools.length > 0 && body.tool_choice !== "none" && body.format) throw new RequestError(400, `"response_format" with tools is not supported unless "tool_choice" is "none"`);
  return body;
}
