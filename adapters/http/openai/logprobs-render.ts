// Token log probabilities in OpenAI's shapes, from the `lp` of a task's token events (only a
// task that asked for `logprobs` has them): chat's `logprobs: {content: [{token, logprob, bytes,
// top_logprobs: [{token, logprob, bytes}]}], refusal: null}` and the legacy completions'
// `logprobs: {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}`. A stream
// without them never comes here: its token lines keep their one-template fast path.

import type { TokenLogprob } from "../../../contract/index.ts";
import type { ReplyInfo } from "./render.ts";

/** A finished task's tokens that carried log probabilities, in order. */
export interface CollectedLogprobs {
  t: string[];
  lp: TokenLogprob[];
}

const encoder = new TextEncoder();

function bytes(text: string): number[] {
  return Array.from(encoder.encode(text));
}

function contentEntry(t: string, lp: TokenLogprob) {
  return {
    token: t,
    logprob: lp.logprob,
    bytes: bytes(t),
    top_logprobs: (lp.top ?? []).map((a) => ({ token: a.t, logprob: a.logprob, bytes: bytes(a.t) })),
  };
}

export type ChatLogprobs = { content: ReturnType<typeof contentEntry>[]; refusal: null };
export type TextLogprobs = { tokens: string[]; token_logprobs: number[]; top_logprobs: (Record<string, number> | null)[]; text_offset: number[] };

export function chatLogprobs(c: CollectedLogprobs): ChatLogprobs {
  return { content: c.t.map((t, k) => contentEntry(t, c.lp[k]!)), refusal: null };
}

function topDict(lp: TokenLogprob): Record<string, number> | null {
  if (!lp.top) return null;
  const out: Record<string, number> = {};
  for (const a of lp.top) if (!(a.t in out)) out[a.t] = a.logprob;
  return out;
}

/** `offset`: where the first token starts in the returned text (after an echoed prompt). */
export function textLogprobs(c: CollectedLogprobs, offset: number): TextLogprobs {
  const text_offset: number[] = [];
  let at = offset;
  for (const t of c.t) {
    text_offset.push(at);
    at += t.length;
  }
  return { tokens: [...c.t], token_logprobs: c.lp.map((l) => l.logprob), top_logprobs: c.lp.map(topDict), text_offset };
}

/**
 * The `data:` line of one streamed token with its log probability (`offset`: where it starts in
 * the text streamed so far, for completions). Serialised whole: these streams are the rare ones.
 */
export function logprobLine(r: ReplyInfo, t: string, lp: TokenLogprob, offset: number): string {
  const head = { id: r.id, created: r.created, model: r.model, ...(r.includeUsage ? { usage: null } : {}) };
  const index = r.index ?? 0;
  const one = { t: [t], lp: [lp] };
  const body =
    r.kind === "text"
      ? { ...head, object: "text_completion", choices: [{ text: t, index, logprobs: textLogprobs(one, offset), finish_reason: null }] }
      : { ...head, object: "chat.completion.chunk", choices: [{ index, delta: { content: t }, logprobs: chatLogprobs(one), finish_reason: null }] };
  return `data: ${JSON.stringify(body)}\n\n`;
}
