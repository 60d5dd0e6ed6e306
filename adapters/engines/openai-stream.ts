// OpenAI's streamed completion chunks (`/v1/chat/completions` or `/v1/completions` with
// `stream:true, stream_options:{include_usage:true}`) → started, token*, end. Shared by the adapters
// whose servers speak it: OpenAI-compatible servers (vLLM, SGLang, hosted APIs), and for chat
// tasks llama-server (and the built-in engine, which speaks its API) and TGI's messages API.
// Each chunk's text delta becomes one token event (vLLM may pack several tokens into one delta, so
// tokens_out comes from the closing `usage.completion_tokens`, not from counting deltas; the
// usage's prompt_tokens is the end's tokens_in); `data: [DONE]` ends the stream. Errors arrive as
// OpenAI's `{error:{message,type,param,code}}`, vLLM's `{object:"error",…}`, or TGI's
// `{error, error_type}` (mapped by the caller's `errorCode`).

import type { Clock } from "../../runtime/index.ts";
import { codeForStatus, errorMessage, sseStream, type SseRequest } from "./http-stream.ts";
import { EngineError, type EngineErrorCode, type EngineEvent } from "./types.ts";

export interface OpenAiStreamRequest extends Omit<SseRequest, "clock"> {
  clock: Clock;
  /** Which chunk shape: chat (`delta.content`) or text (`text`). */
  kind: "chat" | "text";
  version: () => string;
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
  const end = (stop_reason: "length" | "stop" | "canceled"): EngineEvent => ({
    type: "end",
    tokens_out: stop_reason === "canceled" ? i : (usageTokens ?? i),
    decode_ms: clock.now() - startedAt,
    stop_reason,
    ...(promptTokens !== undefined && stop_reason !== "canceled" ? { tokens_in: promptTokens } : {}),
  });
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
      if (typeof text === "string" && text !== "") yield { type: "token", t: text, i: i++, ...(item.more ? { more: true } : {}) };
      if (choice?.finish_reason != null) finish = choice.finish_reason;
      const usage = chunk.usage;
      if (usage && typeof usage === "object") {
        if (typeof usage.completion_tokens === "number") usageTokens = usage.completion_tokens;
        if (typeof usage.prompt_tokens === "number" && Number.isInteger(usage.prompt_tokens) && usage.prompt_tokens >= 0) promptTokens = usage.prompt_tokens;
      }
    }
  }
}
