// A small HTTP client for the engine's tests: JSON posts and SSE `data:` lines, read to the end.

export async function post(base: string, path: string, body: string | object): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}${path}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** The `data:` payloads of an SSE response, parsed (`[DONE]` kept as the string). */
export async function sseEvents(res: Response): Promise<unknown[]> {
  if (!res.headers.get("content-type")?.includes("text/event-stream")) throw new Error(`not an event stream: HTTP ${res.status} ${await res.text()}`);
  const text = await res.text();
  return text
    .split("\n\n")
    .map((block) => block.trim())
    .filter((block) => block.startsWith("data: "))
    .map((block) => block.slice(6))
    .map((data) => (data === "[DONE]" ? data : JSON.parse(data)));
}

export interface CompletionChunk {
  content: string;
  stop: boolean;
  tokens_predicted: number;
  [key: string]: unknown;
}

/** POST /completion with stream:true: the content chunks and the final one. */
export async function streamCompletion(base: string, body: object): Promise<{ pieces: CompletionChunk[]; final: CompletionChunk }> {
  const res = await fetch(`${base}/completion`, { method: "POST", body: JSON.stringify({ ...body, stream: true }) });
  const events = (await sseEvents(res)) as CompletionChunk[];
  const final = events.at(-1);
  if (!final?.stop) throw new Error(`the stream did not end with a final chunk: ${JSON.stringify(events.slice(-2))}`);
  return { pieces: events.slice(0, -1), final };
}
