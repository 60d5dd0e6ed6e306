// One interface for every engine (built-in llama.cpp, llama-server, vLLM, TGI, OpenAI-compatible,
// mock). Replicas drive engines only through it.

import type { EngineEvent, EngineRequest } from "../../contract/engine.ts";
import type { EngineEmbeddings } from "../../contract/embeddings.ts";

export type { EngineEmbeddings, EngineEvent, EngineRequest };

/** Error codes an engine stream can end with; they map 1:1 onto the API's error codes. */
export type EngineErrorCode = "WORKER_RESET" | "DECODE_TIMEOUT" | "POOL_UNAVAILABLE" | "INTERNAL" | "INVALID_PARAMS";

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** True when the engine itself died: the replica must restart it. */
    readonly fatal = false,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

export interface EngineHealth {
  live: boolean;
  ready: boolean;
  /** Why it is not ready, when the engine says. */
  reason?: string;
}

export interface EngineProps {
  slots_total?: number;
  ctx_max?: number;
}

export interface EngineAdapter {
  /** Engine family, e.g. "llamacpp" or "mock". */
  readonly engine: string;
  version(): string;
  health(signal?: AbortSignal): Promise<EngineHealth>;
  props(signal?: AbortSignal): Promise<EngineProps>;
  /**
   * Share of the engine's KV cache in use, in [0,1], read beside each health poll; undefined when
   * the engine does not say (or did not answer). Never throws. Absent on engines that never say (TGI).
   */
  kvCacheUsage?(signal?: AbortSignal): Promise<number | undefined>;
  /** Streams `started`, `token`*, `end`; throws EngineError on failure; stops when `signal` aborts. */
  submit(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent>;
  /**
   * One vector per input, in order (POST /v1/embeddings). Absent on engines that cannot embed.
   * Throws EngineError: INVALID_PARAMS when the engine refuses the inputs or cannot embed.
   */
  embed?(inputs: string[], signal: AbortSignal): Promise<EngineEmbeddings>;
  /** Best-effort cancel of a running request (aborting the submit signal also cancels). */
  cancel(taskId: string): Promise<void>;
  /** Releases what the adapter holds (connections, child processes it owns). */
  close(): Promise<void>;
}
