// One interface for every engine (built-in llama.cpp, llama-server, vLLM, TGI, OpenAI-compatible,
// mock). Replicas drive engines only through it.

export interface EngineRequest {
  task_id: string;
  prompt: string;
  max_tokens: number;
  seed?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop?: string[];
  /** Keep generating past end-of-generation tokens until max_tokens (benchmarks, long streams). */
  ignore_eos?: boolean;
}

export type EngineEvent =
  | { type: "started"; engine_version: string; tokens_in?: number }
  | { type: "token"; t: string; i: number }
  /** `tokens_in`: the prompt's size as the engine counted it, when it reports it only at the end. */
  | { type: "end"; tokens_out: number; decode_ms: number; stop_reason: "length" | "stop" | "canceled"; tokens_in?: number };

/** Error codes an engine stream can end with; they map 1:1 onto the API's error codes. */
export type EngineErrorCode = "WORKER_RESET" | "DECODE_TIMEOUT" | "POOL_UNAVAILABLE" | "INTERNAL";

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
  /** Streams `started`, `token`*, `end`; throws EngineError on failure; stops when `signal` aborts. */
  submit(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent>;
  /** Best-effort cancel of a running request (aborting the submit signal also cancels). */
  cancel(taskId: string): Promise<void>;
  /** Releases what the adapter holds (connections, child processes it owns). */
  close(): Promise<void>;
}
