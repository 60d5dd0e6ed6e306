// Token log probabilities as engine servers report them → the contract's TokenLogprob, only for a
// task that asked (`logprobs`). Shapes read: OpenAI's chat (and llama-server's /v1/completions)
// `logprobs.content: [{token, logprob, top_logprobs: [{token, logprob}]}]`, OpenAI's legacy
// completions `logprobs: {tokens, token_logprobs, top_logprobs: [{token: logprob}]}` (vLLM,
// SGLang), llama-server's /completion `completion_probabilities` (the same entries as chat's,
// or before mid-2024 `{content, probs: [{tok_str, prob}]}`), TGI's `token.logprob` and
// `top_tokens`. Values are made safe for the link: finite and at most 0 (a server's -inf becomes
// -9999, OpenAI's own floor), at most `top` alternatives, each alternative's text bounded.

import { MAX_TOP_LOGPROBS, type EngineRequest, type TokenLogprob } from "../../contract/engine.ts";
import { MAX_TOP_TOKEN_CHARS } from "../../contract/link.ts";
import type { EngineEvent } from "./types.ts";

/** One token as the server reported it: its text and its log probability. */
export interface LogprobEntry {
  t: string;
  lp: TokenLogprob;
}

/** What OpenAI reports for a probability of zero (JSON has no -Infinity). */
export const LOGPROB_FLOOR = -9999;

/** How many alternatives to ask a server for: at least one, since some report nothing at 0 (llama-server). */
export function askTop(r: EngineRequest): number {
  return Math.max(1, Math.min(MAX_TOP_LOGPROBS, r.top_logprobs ?? 0));
}

/** The alternatives a task wants, 0 to 20; undefined when it asked for no log probabilities. */
export function wantedTop(r: EngineRequest): number | undefined {
  return r.logprobs ? Math.max(0, Math.min(MAX_TOP_LOGPROBS, r.top_logprobs ?? 0)) : undefined;
}

export function safeLogprob(v: unknown): number {
  if (typeof v !== "number" || Number.isNaN(v)) return LOGPROB_FLOOR;
  if (v > 0) return 0;
  return v < LOGPROB_FLOOR ? LOGPROB_FLOOR : v;
}

function alternatives(list: unknown, top: number, text: (a: Record<string, any>) => unknown, value: (a: Record<string, any>) => unknown): TokenLogprob {
  const out: { t: string; logprob: number }[] = [];
  if (Array.isArray(list)) {
    for (let k = 0; k < list.length && out.length < top; k++) {
      const a = list[k];
      if (typeof a !== "object" || a === null) continue;
      const t = text(a);
      if (typeof t === "string") out.push({ t: t.slice(0, MAX_TOP_TOKEN_CHARS), logprob: safeLogprob(value(a)) });
    }
  }
  return { logprob: 0, top: out };
}

/** Entries of the `content` shape (OpenAI chat, llama-server). */
function contentEntries(content: unknown[], top: number): LogprobEntry[] {
  const out: LogprobEntry[] = [];
  for (const e of content as Record<string, any>[]) {
    if (typeof e !== "object" || e === null || typeof e.token !== "string") continue;
    const alts = alternatives(e.top_logprobs, top, (a) => a.token, (a) => a.logprob);
    out.push({ t: e.token, lp: withTop(safeLogprob(e.logprob), alts.top!, top) });
  }
  return out;
}

/** A choice's `logprobs` in either OpenAI shape; [] when it has none. */
export function openAiLogprobs(logprobs: unknown, top: number): LogprobEntry[] {
  if (typeof logprobs !== "object" || logprobs === null) return [];
  const l = logprobs as Record<string, any>;
  if (Array.isArray(l.content)) return contentEntries(l.content, top);
  if (!Array.isArray(l.tokens) || !Array.isArray(l.token_logprobs)) return [];
  const out: LogprobEntry[] = [];
  for (let k = 0; k < l.tokens.length; k++) {
    const t = l.tokens[k];
    if (typeof t !== "string") continue;
    const alts = l.top_logprobs?.[k];
    const pairs = alts && typeof alts === "object" ? Object.entries(alts as Record<string, unknown>).sort((a, b) => safeLogprob(b[1]) - safeLogprob(a[1])) : [];
    const topList = pairs.slice(0, top).map(([tt, v]) => ({ t: tt.slice(0, MAX_TOP_TOKEN_CHARS), logprob: safeLogprob(v) }));
    out.push({ t, lp: withTop(safeLogprob(l.token_logprobs[k]), topList, top) });
  }
  return out;
}

/** llama-server's /completion `completion_probabilities`, either generation of its shape. */
export function llamaProbabilities(probs: unknown, top: number): LogprobEntry[] {
  if (!Array.isArray(probs)) return [];
  const first = probs[0] as Record<string, any> | undefined;
  if (first && typeof first.token === "string") return contentEntries(probs, top);
  const out: LogprobEntry[] = [];
  for (const e of probs as Record<string, any>[]) {
    if (typeof e?.content !== "string" || !Array.isArray(e.probs)) continue;
    const ln = (p: unknown) => (typeof p === "number" && p > 0 ? Math.log(p) : LOGPROB_FLOOR);
    const own = (e.probs as Record<string, any>[]).find((p) => p?.tok_str === e.content);
    const alts = alternatives(e.probs, top, (a) => a.tok_str, (a) => ln(a.prob));
    out.push({ t: e.content, lp: withTop(safeLogprob(ln(own?.prob)), alts.top!, top) });
  }
  return out;
}

/**
 * The token events for one piece of streamed `text` and the entries reported with it. Several
 * entries whose texts make up the piece become one token each (vLLM packs tokens into a delta);
 * entries that do not add up to it stay one token, its log probability their sum (the piece's
 * joint probability) and its alternatives the first entry's. Without entries: a plain token.
 */
export function* tokensWithLogprobs(text: string, entries: LogprobEntry[], i: number, more: boolean): Generator<EngineEvent> {
  if (entries.length === 0) return yield { type: "token", t: text, i, ...(more ? { more: true } : {}) };
  if (entries.length === 1) return yield { type: "token", t: text, i, lp: entries[0]!.lp, ...(more ? { more: true } : {}) };
  let joined = "";
  for (const e of entries) joined += e.t;
  if (joined === text && entries.every((e) => e.t !== "")) {
    for (let k = 0; k < entries.length; k++) {
      const last = k === entries.length - 1;
      yield { type: "token", t: entries[k]!.t, i: i + k, lp: entries[k]!.lp, ...(!last || more ? { more: true } : {}) };
    }
    return;
  }
  let sum = 0;
  for (const e of entries) sum += e.lp.logprob;
  const first = entries[0]!.lp.top;
  yield { type: "token", t: text, i, lp: first ? { logprob: safeLogprob(sum), top: first } : { logprob: safeLogprob(sum) }, ...(more ? { more: true } : {}) };
}

/** A task that wants no alternatives (`top_logprobs` 0) gets none: the field is left out. */
export function withTop(logprob: number, alts: { t: string; logprob: number }[], top: number): TokenLogprob {
  return top > 0 ? { logprob, top: alts } : { logprob };
}
