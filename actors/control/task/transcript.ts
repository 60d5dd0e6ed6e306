// A task's transcript as an artifact (docs/contract.md#artifacts): the request with prompt and
// inputs redacted, seed, timings, outcome, and the stream's events. Token texts are the stream itself; the prompt
// never leaves the task (only its length and digest do). Consecutive token frames are folded into
// one `tokens` entry {from, t:[...]} (with `lp:[...]` when the task asked for log probabilities): the same information, but a 50 000-token transcript is one
// array of strings instead of 50 000 objects to canonicalize and hash at the task's end. The
// stream reaches the store in folded chunks as it goes; the transcript is assembled from them.

import { createHash } from "node:crypto";
import { chatChars, type StreamEvent, type TaskSpec, type TokenLogprob } from "../../../contract/index.ts";
import type { StreamChunk } from "../../../adapters/storage/state-store.ts";
import type { TranscriptArtifact } from "./protocol.ts";

/** What the task knows at its end; the events come from the store. */
export interface TranscriptHeader {
  spec: TaskSpec;
  /** The stream's last event (`end` or `error`). */
  last: StreamEvent;
  tokens: number;
  decodeMs: number;
  queueMs: number;
  labels: { engine: string; engine_version: string; pool_id: string; replica_id: string };
  nodeId: string;
  /** The task's correlation and trace ids, for the store's failure lines (never stored). */
  logFields?: Record<string, unknown>;
}

export function redactRequest(spec: TaskSpec): Record<string, unknown> {
  const { prompt, inputs, messages, ...rest } = spec;
  const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
  return {
    ...rest,
    prompt: { redacted: true, chars: prompt.length, sha256: sha256(prompt) },
    ...(messages ? { messages: { redacted: true, count: messages.length, chars: chatChars(messages), sha256: sha256(JSON.stringify(messages)) } } : {}),
    ...(inputs ? { inputs: { redacted: true, count: inputs.length } } : {}),
  };
}

export function transcriptArtifact(input: TranscriptHeader, entries: TranscriptEntry[]): TranscriptArtifact {
  const { spec, labels, last } = input;
  const outcome = last?.type === "error" ? "failed" : last?.type === "end" && last.data.canceled ? "canceled" : "completed";
  return {
    kind: "trace",
    content: {
      job_id: spec.task_id,
      ...(spec.session_id ? { session_id: spec.session_id } : {}),
      request: redactRequest(spec),
      ...(spec.seed !== undefined ? { seed: spec.seed } : {}),
      outcome,
      tokens_out: input.tokens,
      decode_time_ms: input.decodeMs,
      queue_time_ms: Math.max(0, input.queueMs),
      ...(last?.type === "error" ? { error: last.data } : {}),
      events: entries,
    },
    tags: ["sse", "stream", `task:${spec.task_id}`, ...(spec.session_id ? [`session:${spec.session_id}`] : [])],
    metadata: { engine: labels.engine, engine_version: labels.engine_version, pool_id: labels.pool_id, replica_id: labels.replica_id, node_id: input.nodeId },
  };
}

/** A run of tokens; `lp` (a task that asked for log probabilities) parallel to `t`. */
type TokenRun = { type: "tokens"; data: { from: number; t: string[]; lp?: TokenLogprob[] } };

export type TranscriptEntry = StreamEvent | TokenRun;

/**
 * Consecutive tokens with consecutive indexes become one run (so unfolding gives the same events
 * back); a run holds tokens that all carry log probabilities, or none does.
 */
export function foldTokens(events: readonly StreamEvent[]): TranscriptEntry[] {
  const out: TranscriptEntry[] = [];
  let run: TokenRun | undefined;
  for (const e of events) {
    if (e.type === "token") {
      const lp = e.data.lp;
      if (!run || run.data.from + run.data.t.length !== e.data.i || (lp === undefined) !== (run.data.lp === undefined)) {
        run = { type: "tokens", data: lp === undefined ? { from: e.data.i, t: [] } : { from: e.data.i, t: [], lp: [] } };
        out.push(run);
      }
      run.data.t.push(e.data.t);
      if (lp !== undefined) run.data.lp!.push(lp);
    } else {
      run = undefined;
      out.push(e);
    }
  }
  return out;
}

/** The events of stored chunks that fall in [from, to), in order. */
export function unfoldChunks(chunks: readonly StreamChunk[], from = 0, to = Number.MAX_SAFE_INTEGER): StreamEvent[] {
  const out: StreamEvent[] = [];
  for (const chunk of chunks) {
    let seq = chunk.seq;
    for (const entry of chunk.entries as TranscriptEntry[]) {
      if (entry.type === "tokens") {
        const lp = entry.data.lp;
        entry.data.t.forEach((t, k) => {
          if (seq >= from && seq < to) out.push({ type: "token", data: lp === undefined ? { t, i: entry.data.from + k } : { t, i: entry.data.from + k, lp: lp[k]! } });
          seq++;
        });
      } else {
        if (seq >= from && seq < to) out.push(entry);
        seq++;
      }
    }
  }
  return out;
}

/** A transcript's events, unfolded: what its stream sent, in order. */
export function unfoldTranscript(entries: readonly TranscriptEntry[]): StreamEvent[] {
  return unfoldChunks([{ seq: 0, count: Number.MAX_SAFE_INTEGER, entries: entries as unknown[] }]);
}

/** The transcript's entries from a stream's chunks: runs split by a chunk boundary are joined again. */
export function joinChunks(chunks: readonly StreamChunk[]): TranscriptEntry[] {
  const out: TranscriptEntry[] = [];
  for (const chunk of chunks) {
    for (const entry of chunk.entries as TranscriptEntry[]) {
      const prev = out.at(-1);
      if (entry.type === "tokens" && prev?.type === "tokens" && prev.data.from + prev.data.t.length === entry.data.from && (prev.data.lp === undefined) === (entry.data.lp === undefined)) {
        for (const t of entry.data.t) prev.data.t.push(t);
        if (entry.data.lp) for (const lp of entry.data.lp) prev.data.lp!.push(lp);
      } else if (entry.type === "tokens") {
        const { from, t, lp } = entry.data;
        out.push({ type: "tokens", data: lp === undefined ? { from, t: [...t] } : { from, t: [...t], lp: [...lp] } });
      } else {
        out.push(entry);
      }
    }
  }
  return out;
}
