// HTTP plumbing shared by the routes: llama-server's error body, JSON bodies, and SSE streams
// whose generation stops when the client closes the connection.

import { RequestError } from "./params.ts";
import { SlotPoolClosed } from "./slots.ts";

export const json = (body: unknown, status = 200): Response => Response.json(body, { status });

/** llama-server's error shape, also on its OpenAI-compatible routes. */
export function errorBody(error: unknown): { code: number; message: string; type: string } {
  if (error instanceof RequestError) return { code: error.status, message: error.message, type: error.type };
  if (error instanceof SlotPoolClosed) return { code: 503, message: error.message, type: "unavailable_error" };
  return { code: 500, message: (error as Error)?.message ?? String(error), type: "server_error" };
}

export function errorResponse(error: unknown): Response {
  const body = errorBody(error);
  return json({ error: body }, body.code);
}

export async function readJson(req: Request): Promise<unknown> {
  const text = await req.text();
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RequestError(400, `the request body is not valid JSON: ${(error as Error).message}`);
  }
}

export type Send = (data: object | "[DONE]") => void;

/**
 * A `text/event-stream` response of `data:` lines written by `run`. The signal `run` gets aborts
 * when the client closes the connection: generation stops there and frees its slot. A failure
 * inside `run` becomes a last `data: {"error": …}` line, as llama-server sends it.
 */
export function sse(run: (send: Send, signal: AbortSignal) => Promise<void>, request: AbortSignal): Response {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  request.addEventListener("abort", onAbort, { once: true });
  const encoder = new TextEncoder();
  let closed = false;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const send: Send = (data) => {
        if (closed) return;
        controller.enqueue(encoder.encode(`data: ${data === "[DONE]" ? data : JSON.stringify(data)}\n\n`));
      };
      run(send, stop.signal)
        .catch((error) => {
          if (!stop.signal.aborted) send({ error: errorBody(error) });
        })
        .finally(() => {
          request.removeEventListener("abort", onAbort);
          if (closed) return;
          closed = true;
          try {
            controller.close();
          } catch {
            // already errored by a disconnect
          }
        });
    },
    cancel() {
      closed = true;
      stop.abort();
    },
  });
  return new Response(stream, { headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-cache", Connection: "keep-alive" } });
}
