// Streamed text: UTF-8 characters split over byte tokens, and stop strings split over pieces.

import { describe, expect, test } from "bun:test";
import { PieceDecoder, StopFilter, type Detokenize } from "./text.ts";

/** A byte-level vocabulary (token id = byte), decoded as llama.cpp does: bad bytes → U+FFFD. */
const bytes: Detokenize = (tokens) => new TextDecoder().decode(Uint8Array.from(tokens));
const encode = (text: string) => [...new TextEncoder().encode(text)];

function stream(tokens: number[]): string[] {
  const d = new PieceDecoder(bytes);
  const pieces = tokens.map((t) => d.push(t).text);
  pieces.push(d.flush().text);
  return pieces.filter((p) => p !== "");
}

describe("PieceDecoder", () => {
  test("multi-byte characters split over tokens come out whole, and the pieces join to the text", () => {
    const text = "añ€😀b";
    const pieces = stream(encode(text));
    expect(pieces).toEqual(["a", "ñ", "€", "😀", "b"]);
    expect(pieces.join("")).toBe(text);
  });

  test("the tokens of a held character are reported with the piece that completes it", () => {
    const d = new PieceDecoder(bytes);
    expect(d.push(0xe2)).toEqual({ text: "", tokens: [] });
    expect(d.push(0x82)).toEqual({ text: "", tokens: [] });
    expect(d.push(0xac)).toEqual({ text: "€", tokens: [0xe2, 0x82, 0xac] });
  });

  test("bytes that never become a character are sent as U+FFFD instead of being held forever", () => {
    expect(stream([0x80, 0x61]).join("")).toBe("\uFFFDa");
    // A lead byte followed by 4 continuation-less tokens: given up after 4 tokens.
    const d = new PieceDecoder(bytes);
    const out = [0xf0, 0x80, 0x80, 0x80, 0x80].map((t) => d.push(t).text).join("") + d.flush().text;
    expect(out).toContain("\uFFFD");
  });

  test("a character cut off at the end of generation is flushed", () => {
    expect(stream([0x61, 0xe2, 0x82])).toEqual(["a", "\uFFFD"]);
  });

  test("each piece is read after the tokens before it (prompt included)", () => {
    const seen: number[][] = [];
    const d = new PieceDecoder((tokens, context) => (seen.push([...context]), bytes(tokens, context)), [1, 2, 3, 4]);
    d.push(0x61);
    d.push(0x62);
    expect(seen).toEqual([[2, 3, 4], [3, 4, 0x61]]);
  });
});

describe("StopFilter", () => {
  function run(stops: string[], pieces: string[]) {
    const f = new StopFilter(stops);
    const sent: string[] = [];
    for (const p of pieces) {
      const r = f.push(p);
      if (r.send) sent.push(r.send);
      if (r.stop !== undefined) return { sent, stop: r.stop };
    }
    const rest = f.flush();
    if (rest) sent.push(rest);
    return { sent, stop: undefined };
  }

  test("a stop string split over pieces ends the text before it and is never sent", () => {
    expect(run(["END"], ["abc E", "N", "D tail"])).toEqual({ sent: ["abc "], stop: "END" });
  });

  test("a held prefix that turns out not to be a stop string is sent on", () => {
    expect(run(["END"], ["abc E", "NX", "y"])).toEqual({ sent: ["abc ", "ENX", "y"], stop: undefined });
  });

  test("the earliest stop string wins; without stops everything passes", () => {
    expect(run(["lo", "hel"], ["hello"])).toEqual({ sent: [], stop: "hel" });
    expect(run(["x"], ["ab", "cx", "d"])).toEqual({ sent: ["ab", "c"], stop: "x" });
    expect(run([], ["a", "b"])).toEqual({ sent: ["a", "b"], stop: undefined });
  });

  test("text held at the end of generation is flushed", () => {
    expect(run(["<|im_end|>"], ["hi <|im"])).toEqual({ sent: ["hi ", "<|im"], stop: undefined });
  });
});
