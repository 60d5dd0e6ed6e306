// A small SSE client for tests: collects frames in order as {event, data} with parsed JSON data.

import { EventSourceParserStream } from "eventsource-parser/stream";

export interface Frame {
  event: string;
  data: any;
}

export interface SseOpen {
  status: number;
  headers: Headers;
  /** Frames as they arrive; ends when the server closes the stream. */
  frames: AsyncIterable<Frame>;
  abort(): void;
}

export async function openSse(url: string, init: RequestInit = {}): Promise<SseOpen> {
  const controller = new AbortController();
  const res = await fetch(url, { ...init, signal: controller.signal, headers: { accept: "text/event-stream", ...(init.headers ?? {}) } });
  const body = res.body;
  async function* frames(): AsyncIterable<Frame> {
    if (!body || !res.headers.get("content-type")?.includes("text/event-stream")) return;
    const stream = body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
    try {
      for await (const ev of stream) yield { event: ev.event ?? "message", data: JSON.parse(ev.data) };
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  }
  return { status: res.status, headers: res.headers, frames: frames(), abort: () => controller.abort() };
}

/** Reads the whole stream (until the server ends it). */
export async function collect(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; frames: Frame[] }> {
  const open = await openSse(url, init);
  const frames: Frame[] = [];
  for await (const f of open.frames) frames.push(f);
  return { status: open.status, headers: open.headers, frames };
}

export async function submitTask(base: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(`${base}/v2/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

/** GET (or any fetch) and parse JSON, typed loosely for assertions. */
export async function getJson(url: string, init?: RequestInit): Promise<any> {
  return (await fetch(url, init)).json();
}
