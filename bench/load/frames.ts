// What the load generators read from a stream: its frames (split at blank lines, as SSE and the
// OpenAI `data:` stream both are) and what each frame means for the count: a token, the stream's
// clean end, or an error with its code. One reading for every generator, so they count alike.

/** A token: `event: token` on /v2, a `data:` chunk with non-empty text on the OpenAI API. */
const TOKEN_TEXT = /"text":"[^"]/;

export type FrameMeaning = { kind: "token" } | { kind: "end" } | { kind: "error"; code: string } | { kind: "other" };

export function frameMeaning(api: "openai" | "v2", frame: string): FrameMeaning {
  if (api === "v2") {
    if (frame.startsWith("event: token")) return { kind: "token" };
    if (frame.startsWith("event: end")) return { kind: "end" };
    if (frame.startsWith("event: error")) return { kind: "error", code: frame.match(/"code":"([^"]+)"/)?.[1] ?? "?" };
    return { kind: "other" };
  }
  if (frame === "data: [DONE]") return { kind: "end" };
  if (frame.startsWith('data: {"error"')) return { kind: "error", code: frame.match(/"code":"?([^",]+)/)?.[1] ?? "?" };
  return TOKEN_TEXT.test(frame) ? { kind: "token" } : { kind: "other" };
}

/** The frames of a response body, each batch of them as it arrives (one read may hold several). */
export async function* frameBatches(body: ReadableStream<Uint8Array>): AsyncGenerator<string[]> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    const frames: string[] = [];
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      frames.push(buf.slice(0, i));
      buf = buf.slice(i + 2);
    }
    yield frames;
  }
}
