// From sampled tokens to the text a client sees, as llama-server does it: a token that ends inside
// a UTF-8 character is held until the character is complete (so every streamed `content` piece is
// valid text and the pieces concatenate to the whole), and text that may be the start of a stop
// string is held until it is clear whether it is one. A stop string ends the stream before it: the
// stop string itself is never sent.

/** Text of `tokens`, detokenized after `context` (the tokens before them, for leading spaces). */
export type Detokenize = (tokens: readonly number[], context: readonly number[]) => string;

const REPLACEMENT = "\uFFFD";
/** A UTF-8 character has at most 4 bytes, so at most 4 byte tokens are ever held for one. */
const MAX_HELD_TOKENS = 4;
/** How many earlier tokens give a token its context (node-llama-cpp uses 3 as well). */
const CONTEXT_TOKENS = 3;

export interface Piece {
  text: string;
  tokens: number[];
}

/** Turns tokens into complete characters. */
export class PieceDecoder {
  private pending: number[] = [];
  private before: number[];

  constructor(
    private readonly detokenize: Detokenize,
    /** The prompt's tokens: the first generated token is read after them. */
    prompt: readonly number[] = [],
  ) {
    this.before = prompt.slice(-CONTEXT_TOKENS);
  }

  /** Adds one generated token; the text it completes (empty while a character is still open). */
  push(token: number): Piece {
    this.pending.push(token);
    const text = this.detokenize(this.pending, this.before);
    // A trailing U+FFFD is how a cut-off multi-byte character decodes; give it more bytes, but
    // not forever: a byte that never becomes a character is sent as U+FFFD, as llama-server does.
    if (text.endsWith(REPLACEMENT) && this.pending.length < MAX_HELD_TOKENS) return { text: "", tokens: [] };
    return this.take(text);
  }

  /** The tokens the next token is read after (to give an alternative token its text). */
  context(): number[] {
    return [...this.before, ...this.pending].slice(-CONTEXT_TOKENS);
  }

  /** Whatever is still held (at the end of generation). */
  flush(): Piece {
    if (this.pending.length === 0) return { text: "", tokens: [] };
    return this.take(this.detokenize(this.pending, this.before));
  }

  private take(text: string): Piece {
    const tokens = this.pending;
    this.before = [...this.before, ...tokens].slice(-CONTEXT_TOKENS);
    this.pending = [];
    return { text, tokens };
  }
}

/** Holds back text that may begin a stop string; reports the first stop string completed. */
export class StopFilter {
  /** Text not sent yet: always a possible beginning of some stop string. */
  private held = "";
  private readonly stops: string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s !== "");
  }

  /** Appends generated text; returns what can be sent now and, once complete, the stop string. */
  push(text: string): { send: string; stop?: string } {
    const buf = this.held + text;
    if (this.stops.length === 0) return { send: buf };
    // Matches start inside the held text or later: sent text was never the beginning of a stop.
    let at = -1;
    let word: string | undefined;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) [at, word] = [i, s];
    }
    if (word !== undefined) {
      this.held = "";
      return { send: buf.slice(0, at), stop: word };
    }
    const keep = this.partialSuffix(buf);
    this.held = buf.slice(buf.length - keep);
    return { send: buf.slice(0, buf.length - keep) };
  }

  /** The held text, when generation ends without a stop string. */
  flush(): string {
    const rest = this.held;
    this.held = "";
    return rest;
  }

  /** Length of the longest suffix of `buf` that is a proper prefix of a stop string. */
  private partialSuffix(buf: string): number {
    let best = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, buf.length); k > best; k--) {
        if (buf.endsWith(s.slice(0, k))) {
          best = k;
          break;
        }
      }
    }
    return best;
  }
}
