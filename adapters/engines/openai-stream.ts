// OpenAI's streamed completion chunks (`/v1/chat/completions` or `/v1/completions` with
// `stream:true, stream_options:{include_usage:true}`) → started, token*, end. Shared by the adapters
// whose servers speak it: OpenAI-compatible servers (vLLM, SGLang, hosted APIs), and for chat
// tasks llama-server (and the built-in engine, which speaks its API) and TGI's messages API.
// Each chunk's text delta becomes one token event (vLLM may pack several tokens into one delta, so
// tokens_out comes from the closing `usage.completion_tokens`, not from counting deltas; the
// usage's prompt_tokens is the end's tokens_in); `data: [DONE]` ends the stream. Errors arrive as
// OpenAI's `{error:{message,type,param,code}}`, vLLM's `{object:"error",…}`, or TGI's
// `{error, error_type}` (mapped by the caller's `errorCode`). Streamed `delta.tool_calls` pieces
// (OpenAI's shape: the first piece of call `index` has its id and name, later ones append to
// `arguments`) are gathered and go out whole on the end event, checked against the contract's
// bounds; `finish_reason: "tool_calls"` is a `stop`. A task that asked for log probabilities gets
// each token's from the chunk's `logprobs` (logprobs.ts), one token event per reported token.

import type { Clock } from "../../runtime/index.ts";
import { codeForStatus, errorMessage, sseStream, type SseRequest } from "./http-stream.ts";
import { EngineError, type EngineErrorCode, type EngineEvent } from "./types.ts";
import { MAX_CHAT_CHARS, MAX_TOOL_CALLS, ToolCalls, type ToolCall } from "../../contract/index.ts";
import { openAiLogprobs, tokensWithLogprobs } from "./logprobs.ts";

/** Gathers streamed tool call pieces by index. */
export class ToolCallAssembler {
  readonly #calls: { id?: string; name: string; args: string }[] = [];
  #chars = 0;

  constructor(private readonly who: string) {}

  push(pieces: unknown): void {
    if (!Array.isArray(pieces)) return;
    for (const p of pieces as Record<string, any>[]) {
      const index = typeof p?.index === "number" && Number.isInteger(p.index) ? p.index : this.#calls.length;
      if (index < 0 || index >= MAX_TOOL_CALLS) throw new EngineError("INTERNAL", `${this.who} sent a tool call index out of range (${index})`);
      const call = (this.#calls[index] ??= { name: "", args: "" });
      if (typeof p.id === "string" && p.id) call.id = p.id;
      const fn = p.function;
      if (typeof fn?.name === "string") call.name += fn.name;
      if (typeof fn?.arguments === "string") {
        call.args += fn.arguments;
        this.#chars += fn.arguments.length;
        if (this.#chars > MAX_CHAT_CHARS) throw new EngineError("INTERNAL", `${this.who} sent tool call arguments over ${MAX_CHAT_CHARS} characters`);
      }
    }
  }

  /** The calls, whole and checked; undefined when there were none. `idBase` names calls the server gave no id. */
  finish(idBase: string): ToolCall[] | undefined {
    const calls = this.#calls.filter(Boolean);
    if (calls.length === 0) return undefined;
    const out = calls.map((c, k) => ({ id: c.id ?? `call_${idBase}_${k}`, type: "function" as const, function: { name: c.name, arguments: c.args || "{}" } }));
    const checked = ToolCalls.safeParse(out);
    if (!checked.success) throw new EngineError("INTERNAL", `${this.who} sent a malformed tool call: ${checked.error.issues[0]?.message ?? "invalid"}`);
    return checked.data;
  }
}

export interface OpenAiStreamRequest extends Omit<SseRequest, "clock"> {
  clock: Clock;
  /** Which chunk shape: chat (`delta.content`) or text (`text`). */
  kind: "chat" | "text";
  version: () => string;
  /** Names tool calls the server sent without an id (`call_<idBase>_<n>`). */
  idBase?: string;
  /** The task asked for log probabilities with this many alternatives (0-20): tokens carry `lp` (logprobs.ts). */
  logprobs?: number;
  /** The code for an error chunk; default: its numeric `code` as an HTTP status, else INTERNAL. */
  errorCode?: (chunk: Record<string, any>) => EngineErrorCode;
}

function stopReason(finish: unknown): "length" | "stop" {
  return finish === "length" ? "length" : "stop";
}

function defaultCode(chunk: Record<string, any>): EngineErrorCode {
  const code = Number(chunk.error?.code ?? chunk.code);
  return Number.isInteger(code) ? codeForStatus(code) : "INTERNAL";
}

export async function* openAiStream(req: OpenAiStreamRequest): AsyncGenerator<EngineEvent> {
  const { clock } = req;
  let i = 0;
  let startedAt = clock.now();
  let finish: unknown;
  let usageTokens: number | undefined;
  let promptTokens: number | undefined;
  const calls = new ToolCallAssembler(req.who);
  const end = (stop_reason: "length" | "stop" | "canceled"): EngineEvent => {
    const toolCalls = stop_reason === "canceled" ? undefined : calls.finish(req.idBase ?? "0");
    return {
      type: "end",
      tokens_out: stop_reason === "canceled" ? i : (usageTokens ?? i),
      decode_ms: clock.now() - startedAt,
      stop_reason,
      ...(promptTokens !== undefined && stop_reason !== "canceled" ? { tokens_in: promptTokens } : {}),
      ...(toolCalls ? { tool_calls: toolCalls } : {}),
    };
  };
  for await (const item of sseStream(req)) {
    if (item.kind === "open") {
      startedAt = clock.now();
      yield { type: "started", engine_version: req.version() };
    } else if (item.kind === "canceled") {
      return yield end("canceled");
    } else if (item.kind === "eof") {
      // Some servers end without [DONE]; a finish_reason already seen makes it a clean end.
      if (finish !== undefined) return yield end(stopReason(finish));
      throw new EngineError("WORKER_RESET", `${req.who} closed the stream before the end of the completion`);
    } else if (item.data === "[DONE]") {
      if (finish !== undefined) return yield end(stopReason(finish));
      throw new EngineError("WORKER_RESET", `${req.who} ended the stream without a finish_reason`);
    } else {
      let chunk: Record<string, any>;
      try {
        chunk = JSON.parse(item.data);
      } catch {
        throw new EngineError("INTERNAL", `${req.who} sent a malformed stream line: ${req.redact(item.data.slice(0, 200))}`);
      }
      if (chunk.error !== undefined || chunk.object === "error") {
        throw new EngineError((req.errorCode ?? defaultCode)(chunk), `${req.who} failed the request: ${req.redact(errorMessage(chunk) ?? item.data.slice(0, 200))}`);
      }
      const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
      const text = req.kind === "chat" ? choice?.delta?.content : choice?.text;
      if (typeof text === "string" && text !== "") {
        if (req.logprobs === undefined) yield { type: "token", t: text, i: i++, ...(item.more ? { more: true } : {}) };
        else for (const ev of tokensWithLogprobs(text, openAiLogprobs(choice.logprobs, req.logprobs), i, item.more === true)) (i++, yield ev);
      }
      if (choice?.delta?.tool_calls !== undefined) calls.push(choice.delta.tool_calls);
      if (choice?.finish_reason != null) finish = choice.finish_reason;
      const usage = chunk.usage;
      if (usage && typeof usage === "object") {
        if (typeof usage.completion_tokens === "number") usageTokens = usage.completion_tokens;
        if (typeof usage.prompt_tokens === "number" && Number.isInteger(usage.prompt_tokens) && usage.prompt_tokens >= 0) promptTokens = usage.prompt_tokens;
      }
    }
  }
}
