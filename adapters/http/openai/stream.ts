// A task's stream for the OpenAI surface: as `data: {chunk}` lines ending in `data: [DONE]`
// (stream: true), or collected into one answer (stream: false).
//
// Backpressure as in ../sse.ts (both write through ../pulled-stream.ts): lines wait until the
// reader pulls, and a task has at most max_tokens tokens, so the backlog is bounded by the task. Metrics frames are not part of OpenAI's stream and are never queued.
//
// A stream that fails after it began (WORKER_RESET, a task evicted from the queue, a cancel from
// elsewhere) sends `data: {"error":{...}}` and ends without [DONE]: the openai client raises
// that as an APIError. A client that goes away (aborts, or stops reading) cancels the task when
// nobody else watches it: the engine stops generating and its slot frees.

import type { Context } from "hono";
import type { z } from "zod";
import { type ControlPort, type EndData, type ErrorEnvelope, internalError, type StartedData, type StreamSink, type Subscription } from "../../../contract/index.ts";
import { createPulledStream } from "../pulled-stream.ts";
import { logprobLine, type CollectedLogprobs } from "./logprobs-render.ts";
import { canceledError, fromEnvelope } from "./errors.ts";
import { deltaLine, finishChunk, finishReason, openingChunk, toolCallsChunk, usageChunk, usageOf, type ReplyInfo } from "./render.ts";

const DONE = "data: [DONE]\n\n";

export interface ChunkStream {
  body: ReadableStream<Uint8Array>;
  send(data: unknown): void;
  /** Sends a `data:` line already serialised. */
  sendLine(line: string): void;
  /** Sends `data: [DONE]` and closes. */
  done(): void;
  /** Sends one error line and closes. */
  fail(data: unknown): void;
  /** Binds the subscription so a disconnect can release it (and cancel the task). */
  attach(subscription: Subscription): void;
}

export function createChunkStream(signal: AbortSignal): ChunkStream {
  const stream = createPulledStream(signal);
  return {
    body: stream.body,
    send: (data) => stream.write(`data: ${JSON.stringify(data)}\n\n`),
    sendLine: (line) => stream.write(line),
    done: () => stream.write(DONE, true),
    fail: (data) => stream.write(`data: ${JSON.stringify(data)}\n\n`, true),
    attach: (subscription) => stream.attach(subscription),
  };
}

export interface StreamPlan {
  reply: ReplyInfo;
  /** Characters of the prompt or the messages' text (for the usage estimate). */
  promptChars: number;
  maxTokens: number;
  echo: string;
}

/** The sink that turns task events into chunks on `stream`. */
export function chunkSink(plan: StreamPlan, stream: ChunkStream): StreamSink {
  const { reply } = plan;
  let started: z.infer<typeof StartedData> | undefined;
  const tokenLine = deltaLine(reply);
  /** Where the next token starts in the streamed text (completions' text_offset). */
  let offset = plan.echo.length;
  const opening = openingChunk(reply, plan.echo);
  if (opening) stream.send(opening);
  return {
    push(event) {
      switch (event.type) {
        case "started":
          started = event.data;
          return;
        case "token": {
          const { t, lp } = event.data;
          const at = offset;
          offset += t.length;
          // Log probabilities (a task that asked) need the whole chunk; every other token line is the template.
          return stream.sendLine(lp === undefined ? tokenLine(t) : logprobLine(reply, t, lp, at));
        }
        case "metrics":
          return;
        case "end":
          if (event.data.canceled) return stream.fail(canceledError().body);
          if (event.data.tool_calls?.length && reply.kind === "chat") stream.send(toolCallsChunk(reply, event.data.tool_calls));
          stream.send(finishChunk(reply, finishReason(event.data, plan.maxTokens)));
          if (reply.includeUsage) stream.send(usageChunk(reply, usageOf(plan.promptChars, started, event.data)));
          return stream.done();
        case "error":
          return stream.fail(fromEnvelope(event.data).body);
      }
    },
  };
}

export type Collected =
  | { kind: "end"; text: string; started?: z.infer<typeof StartedData>; end: z.infer<typeof EndData>; logprobs?: CollectedLogprobs }
  | { kind: "error"; error: ErrorEnvelope }
  | { kind: "left" };

/**
 * Waits for the whole task. Resolves `left` when the client went away first, after asking for
 * the task to be canceled (if nobody else watches it).
 */
export function collectTask(port: ControlPort, taskId: string, signal: AbortSignal): Promise<Collected> {
  return new Promise<Collected>((resolve, reject) => {
    let text = "";
    let started: z.infer<typeof StartedData> | undefined;
    let logprobs: CollectedLogprobs | undefined;
    let settled = false;
    let subscription: Subscription | undefined;
    const settle = (outcome: Collected) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      resolve(outcome);
    };
    const onAbort = () => {
      subscription?.unsubscribe({ cancelIfLast: true });
      settle({ kind: "left" });
    };
    const sink: StreamSink = {
      push(event) {
        if (event.type === "started") started = event.data;
        else if (event.type === "token") {
          text += event.data.t;
          if (event.data.lp !== undefined) {
            logprobs ??= { t: [], lp: [] };
            logprobs.t.push(event.data.t);
            logprobs.lp.push(event.data.lp);
          }
        } else if (event.type === "end") settle({ kind: "end", text, started, end: event.data, ...(logprobs ? { logprobs } : {}) });
        else if (event.type === "error") settle({ kind: "error", error: event.data });
      },
    };
    signal.addEventListener("abort", onAbort, { once: true });
    port.subscribe(taskId, sink).then((got) => {
      if (got && "refused" in got) return settle({ kind: "error", error: got.refused });
      const s = got;
      subscription = s;
      if (!s) settle({ kind: "error", error: internalError(`task ${taskId} vanished before its stream could be read`) });
      else if (signal.aborted && !settled) onAbort();
      else if (settled && signal.aborted) s.unsubscribe({ cancelIfLast: true });
    }, reject);
  });
}

/** The 200 that carries an OpenAI event stream: no caching, no proxy buffering. */
export function eventStreamResponse(c: Context, body: ReadableStream<Uint8Array>): Response {
  c.header("Content-Type", "text/event-stream");
  c.header("Cache-Control", "no-cache");
  c.header("X-Accel-Buffering", "no");
  return c.body(body, 200);
}
