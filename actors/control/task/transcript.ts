// A task's transcript as an artifact (docs/contract.md#artifacts): the request with prompt and
// inputs redacted, seed, timings, outcome, and the stream's events. Token texts are the stream itself; the prompt
// never leaves the task (only its length and digest do). Consecutive token frames are folded into
// one `tokens` entry {from, t:[...]}: the same information, but a 50 000-token transcript is one
// array of strings instead of 50 000 objects to canonicalize and hash at the task's end.

import { createHash } from "node:crypto";
import type { StreamEvent, TaskSpec } from "../../../contract/index.ts";
import type { TranscriptArtifact } from "./protocol.ts";

export interface TranscriptInput {
  spec: TaskSpec;
  events: readonly StreamEvent[];
  tokens: number;
  decodeMs: number;
  queueMs: number;
  labels: { engine: string; engine_version: string; pool_id: string; replica_id: string };
  nodeId: string;
}

export function redactRequest(spec: TaskSpec): Record<string, unknown> {
  const { prompt, inputs, ...rest } = spec;
  return {
    ...rest,
    prompt: { redacted: true, chars: prompt.length, sha256: createHash("sha256").update(prompt).digest("hex") },
    ...(inputs ? { inputs: { redacted: true, count: inputs.length } } : {}),
  };
}

export function transcriptArtifact(input: TranscriptInput): TranscriptArtifact {
  const { spec, events, labels } = input;
  const last = events.at(-1);
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
      events: foldTokens(events),
    },
    tags: ["sse", "stream", `task:${spec.task_id}`, ...(spec.session_id ? [`session:${spec.session_id}`] : [])],
    metadata: { engine: labels.engine, engine_version: labels.engine_version, pool_id: labels.pool_id, replica_id: labels.replica_id, node_id: input.nodeId },
  };
}

export type TranscriptEntry = StreamEvent | { type: "tokens"; data: { from: number; t: string[] } };

export function foldTokens(events: readonly StreamEvent[]): TranscriptEntry[] {
  const out: TranscriptEntry[] = [];
  let run: { type: "tokens"; data: { from: number; t: string[] } } | undefined;
  for (const e of events) {
    if (e.type === "token") {
      if (!run) {
        run = { type: "tokens", data: { from: e.data.i, t: [] } };
        out.push(run);
      }
      run.data.t.push(e.data.t);
    } else {
      run = undefined;
      out.push(e);
    }
  }
  return out;
}
