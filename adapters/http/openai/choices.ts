// `n > 1` on /v1/chat/completions and /v1/completions: n independent tasks for one request, each
// admitted on its own (rate limits, budgets and placement count every one), with seeds seed + k
// when the request gives a seed. Their answers merge into choices[k]: streamed chunks carry
// `index: k` (interleaved as the tasks produce them), the non-streamed answer has n choices, usage
// counts the prompt once (as OpenAI does) and the completion tokens of every choice. The first
// failure of any task fails the request with its error and cancels the others; a client that
// leaves cancels all n.

import type { Context } from "hono";
import { type AdmitOutcome, type ControlPort, type ErrorEnvelope, inputChars, internalError, type Subscription, type TaskRequestV2 } from "../../../contract/index.ts";
import { canceledError, fromEnvelope, paramOf, respond } from "./errors.ts";
import { completion, finishReason, replyId, usageOf, type ReplyInfo, type ReplyKind } from "./render.ts";
import type { MappedRequest } from "./request.ts";
import type { Usage } from "./schemas.ts";
import { chunkSink, collectTask, createChunkStream, eventStreamResponse, type ChunkStream, type Collected } from "./stream.ts";

export interface ChoicesRun {
  port: ControlPort;
  kind: ReplyKind;
  req: MappedRequest;
  /** Unix seconds. */
  created: number;
  /** Admits one task (the routes' traced submit). */
  submit(task: TaskRequestV2): Promise<AdmitOutcome>;
  /** The answer to a refused admission (the routes' 404 for an unknown model, else OpenAI's error). */
  refuse(error: ErrorEnvelope): Promise<Response>;
}

/** The k-th task: the same request, its seed moved by k when one is given. */
export function choiceTask(task: TaskRequestV2, k: number): TaskRequestV2 {
  return task.seed === undefined || k === 0 ? task : { ...task, seed: task.seed + k };
}

export async function runChoices(c: Context, run: ChoicesRun): Promise<Response> {
  const { port, req } = run;
  const ids: string[] = [];
  for (let k = 0; k < req.n; k++) {
    const outcome = await run.submit(choiceTask(req.task, k));
    if (!outcome.ok) {
      await Promise.all(ids.map((id) => port.cancel(id, "client")));
      return run.refuse(outcome.error);
    }
    ids.push(outcome.admission.task_id);
  }
  const base = { kind: run.kind, id: replyId(run.kind, ids[0]!), created: run.created, model: req.model, includeUsage: req.includeUsage };
  const replies: ReplyInfo[] = ids.map((_, index) => ({ ...base, index }));
  const promptChars = inputChars(req.task);
  return req.stream ? stream(c, run, ids, replies, promptChars) : whole(c, run, ids, replies, promptChars);
}

async function whole(c: Context, run: ChoicesRun, ids: string[], replies: ReplyInfo[], promptChars: number): Promise<Response> {
  const signal = c.req.raw.signal;
  const stops = ids.map(() => new AbortController());
  let failed: Collected | undefined;
  const got = await Promise.all(
    ids.map((id, k) =>
      collectTask(run.port, id, AbortSignal.any([signal, stops[k]!.signal])).then((r) => {
        if (!failed && (r.kind === "error" || (r.kind === "end" && r.end.canceled))) {
          failed = r;
          stops.forEach((s, j) => j !== k && s.abort()); // the others are canceled
        }
        return r;
      }),
    ),
  );
  if (signal.aborted) return respond(c, canceledError());
  const first = failed as Collected | undefined;
  if (first?.kind === "error") return respond(c, fromEnvelope(first.error, { param: paramOf(first.error) }));
  if (first) return respond(c, canceledError());
  const ends = got as Extract<Collected, { kind: "end" }>[];
  const choices = ends.map((r, k) => completion(replies[k]!, run.req.echo + r.text, finishReason(r.end, run.req.task.max_tokens), usageOf(promptChars, r.started, r.end), r.end.tool_calls, r.logprobs));
  const usage = summed(choices.map((x) => x.usage!));
  return c.json({ ...choices[0]!, choices: choices.map((x) => x.choices[0]!), usage });
}

async function stream(c: Context, run: ChoicesRun, ids: string[], replies: ReplyInfo[], promptChars: number): Promise<Response> {
  const out = createChunkStream(c.req.raw.signal);
  const merged = mergedStream(out, ids.length, replies[0]!);
  const subscriptions: Subscription[] = [];
  const cancelAll = () => subscriptions.forEach((s) => s.unsubscribe({ cancelIfLast: true }));
  merged.onFail(cancelAll);
  for (const [k, id] of ids.entries()) {
    const sink = chunkSink({ reply: replies[k]!, promptChars, maxTokens: run.req.task.max_tokens, echo: run.req.echo }, merged.choice());
    const got = await run.port.subscribe(id, sink);
    if (!got || "refused" in got) {
      cancelAll();
      await Promise.all(ids.slice(k).map((rest) => run.port.cancel(rest, "client")));
      return respond(c, fromEnvelope(got ? got.refused : internalError(`task ${id} vanished before its stream could be read`)));
    }
    subscriptions.push(got);
  }
  out.attach({ unsubscribe: (o) => subscriptions.forEach((s) => s.unsubscribe(o)) });
  return eventStreamResponse(c, out.body);
}

/**
 * n choices' chunk streams onto one: chunks pass through; each choice's usage chunk is held and
 * one summed usage chunk goes out when the last choice is done, then `[DONE]`. The first failure
 * goes out, ends the stream and cancels the other tasks; later writes are dropped.
 */
function mergedStream(out: ChunkStream, n: number, reply: ReplyInfo) {
  let done = 0;
  let over = false;
  let onFail = () => {};
  const usages: Usage[] = [];
  return {
    onFail: (f: () => void) => void (onFail = f),
    choice: (): ChunkStream => ({
      body: out.body,
      send(data) {
        if (over) return;
        const u = data as { choices?: unknown[]; usage?: Usage | null };
        if (u.usage && u.choices?.length === 0) return void usages.push(u.usage);
        out.send(data);
      },
      sendLine: (line) => over || out.sendLine(line),
      done() {
        if (over || ++done < n) return;
        over = true;
        if (reply.includeUsage && usages.length > 0) {
          const { index: _, ...head } = reply;
          out.send({ id: head.id, object: head.kind === "chat" ? "chat.completion.chunk" : "text_completion", created: head.created, model: head.model, choices: [], usage: summed(usages) });
        }
        out.done();
      },
      fail(data) {
        if (over) return;
        over = true;
        out.fail(data);
        onFail();
      },
      attach: () => {},
    }),
  };
}

/** The prompt once (every choice read the same one), the completions of all. */
function summed(usages: readonly Usage[]): Usage {
  const prompt_tokens = usages[0]?.prompt_tokens ?? 0;
  const completion_tokens = usages.reduce((a, u) => a + u.completion_tokens, 0);
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}
