// Token log probabilities, only for a request that asks (`n_probs` on /completion, `logprobs` on
// /v1/*): node-llama-cpp's `evaluateWithMetadata` gives each sampled token's probability (and, for
// alternatives, the whole sorted distribution) after the request's sampling chain — logit_bias,
// penalties, grammar, and with temperature > 0 top-k/top-p/min-p and the temperature; at
// temperature 0 it is the model's whole distribution, so the greedy token is the most likely.
//
// Alignment: text reaches a client only after two holds — the decoder's (a UTF-8 character split
// over tokens) and the stop filter's (text that may begin a stop string). The aligner follows both
// in offsets of the decoded text and sends each piece with the entries of exactly the tokens it
// holds, in order, each token once:
// - a piece always ends at a token's end (released text that ends inside a token waits for the
//   rest of it), so the entries' texts join to the piece;
// - the leading tokens of a character split over tokens carry "" and the last one the character
//   (as does a token with no text, e.g. a passed-over end-of-generation token): they go with the
//   next piece that has text;
// - at a stop string, tokens wholly inside it (or after it) are not reported, and a token the stop
//   string begins inside is reported with the part of its text before it.

/** What OpenAI reports for a probability of zero (JSON has no -Infinity). */
export const LOGPROB_FLOOR = -9999;
/** Most alternatives per token (OpenAI's top_logprobs limit). */
export const MAX_TOP = 20;

export interface Alternative {
  token: number;
  text: string;
  logprob: number;
}

/** One generated token as reported: its text as sent, its log probability, its alternatives. */
export interface LpEntry {
  token: number;
  text: string;
  logprob: number;
  /** Absent when the request wants no alternatives. */
  top?: Alternative[];
}

/** A token's measure before its text is known. */
export type Sampled = Omit<LpEntry, "text">;

/** A probability → its natural log, finite and ≤ 0. */
export function logOf(p: number | undefined): number {
  if (p === undefined || !(p > 0)) return LOGPROB_FLOOR;
  const lp = Math.log(p);
  return lp > 0 ? 0 : lp < LOGPROB_FLOOR ? LOGPROB_FLOOR : lp;
}

/**
 * A sampled token's entry from node-llama-cpp's metadata: `probabilities` (sorted, most likely
 * first; only asked for when alternatives are wanted) or `confidence` (the token's own).
 */
export function sampledEntry(
  token: number,
  meta: { probabilities?: ReadonlyMap<number, number>; confidence?: number },
  top: number,
  textOf: (token: number) => string,
): Sampled {
  const own = meta.probabilities?.get(token) ?? meta.confidence;
  if (top <= 0) return { token, logprob: logOf(own) };
  const alts: Alternative[] = [];
  if (meta.probabilities) {
    for (const [t, p] of meta.probabilities) {
      if (alts.length >= top) break;
      alts.push({ token: t, text: textOf(t), logprob: logOf(p) });
    }
  }
  return { token, logprob: logOf(own), top: alts };
}

interface Placed {
  entry: Sampled;
  text: string;
  /** Offsets of the token's text in the decoded text. */
  start: number;
  end: number;
}

export interface AlignedPiece {
  text: string;
  entries: LpEntry[];
}

const NOTHING: AlignedPiece = { text: "", entries: [] };

export class LogprobAligner {
  /** Sampled, not yet decoded (the decoder holds them for a character). */
  private sampledQueue: Sampled[] = [];
  /** Decoded, not yet sent. */
  private placed: Placed[] = [];
  /** Offset of the end of the decoded text. */
  private decodedTo = 0;
  /** Released by the stop filter and not sent yet; begins at offset `sentTo`. */
  private released = "";
  private sentTo = 0;

  /** A token was sampled (in order). */
  sampled(entry: Sampled): void {
    this.sampledQueue.push(entry);
  }

  /** The decoder gave text for its oldest `tokens` sampled tokens. */
  decoded(text: string, tokens: number): void {
    const batch = this.sampledQueue.splice(0, tokens);
    const at = this.decodedTo;
    for (let k = 0; k < batch.length; k++) {
      const last = k === batch.length - 1;
      this.placed.push({ entry: batch[k]!, text: last ? text : "", start: at, end: last ? at + text.length : at });
    }
    this.decodedTo += text.length;
  }

  /** The stop filter released `text`: what can be sent now, ending at a token's end. */
  release(text: string): AlignedPiece {
    this.released += text;
    const releasedTo = this.sentTo + this.released.length;
    let j = -1;
    for (let k = 0; k < this.placed.length; k++) {
      const p = this.placed[k]!;
      if (p.end > releasedTo) break;
      if (p.end > p.start) j = k;
    }
    if (j < 0) return NOTHING;
    const cut = this.placed[j]!.end - this.sentTo;
    return this.take(this.released.slice(0, cut), this.placed.splice(0, j + 1));
  }

  /**
   * Generation is over and the stop filter released its last `text`: everything released goes out.
   * `stopped`: it ended at a stop string, so the tokens not (wholly) released are cut or dropped;
   * otherwise every token still held goes with it.
   */
  finish(text: string, stopped: boolean): AlignedPiece {
    this.released += text;
    const releasedTo = this.sentTo + this.released.length;
    const placed = this.placed;
    this.placed = [];
    let keep = placed;
    if (stopped) {
      keep = [];
      for (const p of placed) {
        if (p.start >= releasedTo) break; // inside the stop string, or after it
        keep.push(p.end > releasedTo ? { ...p, text: p.text.slice(0, releasedTo - p.start), end: releasedTo } : p);
      }
    }
    return this.take(this.released, keep);
  }

  private take(text: string, placed: Placed[]): AlignedPiece {
    this.released = this.released.slice(text.length);
    this.sentTo += text.length;
    return { text, entries: placed.map((p) => ({ ...p.entry, text: p.text })) };
  }
}

// The wire shapes, as llama-server and OpenAI write them.

const utf8 = new TextEncoder();
const bytesOf = (text: string) => Array.from(utf8.encode(text));

/**
 * llama-server's `completion_probabilities` (/completion) and OpenAI's chat `logprobs.content`:
 * `[{id, token, logprob, bytes, top_logprobs: [{id, token, logprob, bytes}]}]`.
 */
export function contentLogprobs(entries: readonly LpEntry[]) {
  return entries.map((e) => ({
    id: e.token,
    token: e.text,
    logprob: e.logprob,
    bytes: bytesOf(e.text),
    top_logprobs: (e.top ?? []).map((a) => ({ id: a.token, token: a.text, logprob: a.logprob, bytes: bytesOf(a.text) })),
  }));
}

/** OpenAI's legacy completions `logprobs`; `offset`: where the piece begins in the completion's text. */
export function legacyLogprobs(entries: readonly LpEntry[], offset: number) {
  const text_offset: number[] = [];
  let at = offset;
  for (const e of entries) text_offset.push(at), (at += e.text.length);
  return {
    tokens: entries.map((e) => e.text),
    token_logprobs: entries.map((e) => e.logprob),
    // An object per token, most likely first; alternatives with the same text keep the likeliest.
    top_logprobs: entries.map((e) => {
      if (!e.top) return null;
      const o: Record<string, number> = {};
      for (const a of e.top) if (!(a.text in o)) o[a.text] = a.logprob;
      return o;
    }),
    text_offset,
  };
}
