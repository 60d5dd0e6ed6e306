// Lining up token log probabilities with the streamed text: pieces cut by the UTF-8 decoder and the
// stop-string filter carry the entries of exactly the tokens they hold, in order, each once. The
// calls follow generate.ts's order (sampled → decoded → released → finished); the same paths run
// on the real model in logprobs-engine.test.ts.

import { describe, expect, test } from "bun:test";
import { contentLogprobs, legacyLogprobs, LOGPROB_FLOOR, LogprobAligner, logOf, sampledEntry, type LpEntry } from "./logprobs.ts";
import { PieceDecoder, StopFilter, type Detokenize } from "./text.ts";

/** Token id → its bytes: ids < 256 are single bytes, larger ids the strings of `words`. */
function vocab(words: string[] = []) {
  const enc = new TextEncoder();
  const bytesOf = (t: number) => (t < 256 ? [t] : [...enc.encode(words[t - 256]!)]);
  const detok: Detokenize = (tokens) => new TextDecoder().decode(Uint8Array.from(tokens.flatMap(bytesOf)));
  const id = (w: string) => 256 + words.indexOf(w);
  return { detok, id };
}

/** Runs `tokens` through decoder, stop filter and aligner as generate.ts does; each token's logprob is -(its index + 1). */
function run(tokens: number[], stops: string[], detok: Detokenize) {
  const decoder = new PieceDecoder(detok);
  const filter = new StopFilter(stops);
  const aligner = new LogprobAligner();
  const pieces: { text: string; entries: LpEntry[] }[] = [];
  const out = (p: { text: string; entries: LpEntry[] }) => p.text !== "" && pieces.push(p);
  let stopped = false;
  for (let k = 0; k < tokens.length && !stopped; k++) {
    aligner.sampled({ token: tokens[k]!, logprob: -(k + 1) });
    const piece = decoder.push(tokens[k]!);
    if (piece.tokens.length > 0) aligner.decoded(piece.text, piece.tokens.length);
    if (piece.text === "") continue;
    const { send, stop } = filter.push(piece.text);
    if (stop !== undefined) {
      out(aligner.finish(send, true));
      stopped = true;
    } else out(aligner.release(send));
  }
  if (!stopped) {
    const rest = decoder.flush();
    if (rest.tokens.length > 0) aligner.decoded(rest.text, rest.tokens.length);
    const tail = filter.push(rest.text);
    out(aligner.finish(tail.stop !== undefined ? tail.send : tail.send + filter.flush(), tail.stop !== undefined));
  }
  const entries = pieces.flatMap((p) => p.entries);
  return { pieces: pieces.map((p) => [p.text, p.entries.map((e) => e.text)]), text: pieces.map((p) => p.text).join(""), texts: entries.map((e) => e.text), lps: entries.map((e) => e.logprob) };
}

const bytes = (s: string) => [...new TextEncoder().encode(s)];

describe("LogprobAligner", () => {
  test("without stop strings each token is its own piece with its own entry", () => {
    const { detok } = vocab();
    const r = run(bytes("abc"), [], detok);
    expect(r.pieces).toEqual([["a", ["a"]], ["b", ["b"]], ["c", ["c"]]]);
    expect(r.lps).toEqual([-1, -2, -3]);
  });

  test("a character split over byte tokens: one piece, the leading bytes carry '' and the last the character", () => {
    const { detok } = vocab();
    const r = run(bytes("a€b"), [], detok);
    expect(r.pieces).toEqual([["a", ["a"]], ["€", ["", "", "€"]], ["b", ["b"]]]);
    expect(r.lps).toEqual([-1, -2, -3, -4, -5]);
    expect(r.texts.join("")).toBe("a€b");
  });

  test("a stop string spanning tokens: the text before it is sent with its tokens; the stop's tokens are not reported", () => {
    const { detok } = vocab();
    const r = run(bytes("xyENDzz"), ["END"], detok);
    expect(r.text).toBe("xy");
    expect(r.texts).toEqual(["x", "y"]);
    expect(r.lps).toEqual([-1, -2]);
  });

  test("text held as a possible stop and then released goes out with its tokens, in order, once", () => {
    const { detok, id } = vocab(["xa", "c", "ab"]);
    // "xa": the stop filter holds "a" (it may begin "ab"), so the token waits whole; "c" releases both.
    const r = run([id("xa"), id("c")], ["ab"], detok);
    expect(r.pieces).toEqual([["xac", ["xa", "c"]]]);
    expect(r.lps).toEqual([-1, -2]);
  });

  test("a stop string that begins inside a token: the token is reported with its text before the stop", () => {
    const { detok, id } = vocab(["he", "llo wo", "rld", "!"]);
    const r = run([id("he"), id("llo wo"), id("rld"), id("!")], ["world"], detok);
    expect(r.text).toBe("hello ");
    expect(r.texts).toEqual(["he", "llo "]);
    expect(r.lps).toEqual([-1, -2]);
  });

  test("a stop string right after a multi-byte character, and one that starts inside the held bytes' text", () => {
    const { detok } = vocab();
    const r = run(bytes("é€STOP"), ["STOP"], detok);
    expect(r.pieces).toEqual([["é", ["", "é"]], ["€", ["", "", "€"]]]);
    const held = run(bytes("a€€b"), ["€€"], detok);
    expect([held.text, held.texts]).toEqual(["a", ["a"]]);
  });

  test("held text at the end of generation (no stop) goes out with every token still held", () => {
    const { detok } = vocab();
    const r = run(bytes("xxST"), ["STOP"], detok);
    expect(r.pieces).toEqual([["x", ["x"]], ["x", ["x"]], ["ST", ["S", "T"]]]);
    // A character cut off at the end: its bytes decode to U+FFFD and keep their entries.
    const cut = run([0x61, 0xe2, 0x82], [], detok);
    expect(cut.text).toBe("a\uFFFD");
    expect(cut.lps).toEqual([-1, -2, -3]);
  });

  test("a token with no text goes with the next piece that has text", () => {
    const { detok, id } = vocab(["", "hi"]);
    const r = run([id(""), id("hi")], [], detok);
    expect(r.pieces).toEqual([["hi", ["", "hi"]]]);
  });

  test("over many random streams: texts join to the sent text, every sent token reported once, in order", () => {
    const { detok } = vocab();
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const alphabet = ["a", "b", "S", "T", "é", "€", "😀"];
    for (let k = 0; k < 300; k++) {
      const text = Array.from({ length: 1 + rand(12) }, () => alphabet[rand(alphabet.length)]).join("");
      const r = run(bytes(text), ["ST", "€a", "bé€"], detok);
      expect(r.texts.join("")).toBe(r.text);
      // Logprobs are the token indexes: strictly decreasing, starting at the first token.
      expect(r.lps).toEqual(r.lps.map((_, i) => -(i + 1)));
      expect(text.startsWith(r.text)).toBe(true);
    }
  });
});

describe("values and wire shapes", () => {
  test("log of a probability: finite and at most 0, zero is the floor", () => {
    expect(logOf(1)).toBe(0);
    expect(logOf(0.5)).toBeCloseTo(Math.log(0.5));
    expect(logOf(0)).toBe(LOGPROB_FLOOR);
    expect(logOf(undefined)).toBe(LOGPROB_FLOOR);
    expect(logOf(1e-300 * 1e-300)).toBe(LOGPROB_FLOOR);
  });

  test("alternatives: the most likely first, at most `top`; the token's own from the distribution or its confidence", () => {
    const dist = new Map([[5, 0.6], [9, 0.3], [2, 0.1]]);
    const e = sampledEntry(9, { probabilities: dist }, 2, (t) => `t${t}`);
    expect(e).toEqual({ token: 9, logprob: Math.log(0.3), top: [{ token: 5, text: "t5", logprob: Math.log(0.6) }, { token: 9, text: "t9", logprob: Math.log(0.3) }] });
    expect(sampledEntry(9, { confidence: 0.25 }, 0, String)).toEqual({ token: 9, logprob: Math.log(0.25) });
  });

  test("llama-server's / OpenAI chat's content entries and OpenAI's legacy shape", () => {
    const entries: LpEntry[] = [
      { token: 1, text: "é", logprob: -0.5, top: [{ token: 1, text: "é", logprob: -0.5 }, { token: 3, text: "e", logprob: -1 }] },
      { token: 2, text: "b", logprob: -2, top: [] },
    ];
    expect(contentLogprobs(entries)[0]).toEqual({ id: 1, token: "é", logprob: -0.5, bytes: [0xc3, 0xa9], top_logprobs: [{ id: 1, token: "é", logprob: -0.5, bytes: [0xc3, 0xa9] }, { id: 3, token: "e", logprob: -1, bytes: [0x65] }] });
    expect(legacyLogprobs(entries, 4)).toEqual({ tokens: ["é", "b"], token_logprobs: [-0.5, -2], top_logprobs: [{ é: -0.5, e: -1 }, {}], text_offset: [4, 5] });
    expect(legacyLogprobs([{ token: 2, text: "b", logprob: -2 }], 0).top_logprobs).toEqual([null]);
  });
});
