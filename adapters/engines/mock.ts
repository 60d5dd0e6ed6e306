// Mock engine with fault injection, so tests reach every state for real: per-token delay, fail
// after N tokens, crash after N tokens (the engine dies: every stream fails and health goes
// down until restart), hang after N tokens (no more tokens until canceled).
// Output is deterministic in (prompt, seed): the same request yields the same tokens. Chat
// messages are rendered with a fixed template first (renderMockChat). Structured requests
// (docs/api.md#tools-and-structured-output): with tool_choice `required` or a named function the
// mock answers as runtime's structuredExample (shared with the mock-server program): one call (the
// named function, else the first tool) whose arguments are schemaExample(parameters); with `auto` it
// never calls. A json_object format answers `{}`, a json_schema one schemaExample(schema), each as one token. Penalties and logit_bias: refused.
// A model ref that names a local file (`file:` or path-like) must exist, as for a real engine:
// otherwise the engine fails to start, so reload and start-up failures are real in tests.

import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { structuredExample, type Clock } from "../../runtime/index.ts";
import { refuseUnsupported } from "./request-features.ts";
import { EngineError, type EngineAdapter, type EngineEmbeddings, type EngineEvent, type EngineHealth, type EngineProps, type EngineRequest } from "./types.ts";

export interface MockFaults {
  /** Delay before each token, in ms of the injected clock. */
  tokenDelayMs?: number;
  /** Delay before `started` (engine warm-up per request). */
  startDelayMs?: number;
  /** The request fails with INTERNAL after this many tokens. */
  failAfterTokens?: number;
  /** The engine crashes after this many tokens: fatal WORKER_RESET for every stream. */
  crashAfterTokens?: number;
  /** No token after this many until the request is canceled. */
  hangAfterTokens?: number;
  /** Health reports not ready. */
  unready?: boolean;
}

export interface MockEngineOptions {
  clock: Clock;
  faults?: MockFaults;
  slots?: number;
  ctxMax?: number;
  version?: string;
  /** The model ref the engine loads; plain names ("tiny") are virtual. */
  model?: string;
}

/** Remote refs the mock pretends to have fetched: the remote model ref schemes. */
const REMOTE_REF = /^(hf:|https?:\/\/|s3:\/\/|oci:\/\/)/;

/**
 * The local path a model ref names, or undefined for a virtual (plain name) or remote ref.
 * `file:` refs are paths; otherwise a ref with a "/" or a ".gguf" suffix looks like one.
 */
export function localModelPath(ref: string): string | undefined {
  if (ref.startsWith("file://")) return fileURLToPath(ref);
  if (ref.startsWith("file:")) return ref.slice("file:".length);
  if (REMOTE_REF.test(ref)) return undefined;
  return ref.includes("/") || ref.endsWith(".gguf") ? ref : undefined;
}

/** Why the model cannot be loaded, or undefined when it can. */
export function checkModelFile(ref: string): string | undefined {
  let path: string | undefined;
  try {
    path = localModelPath(ref);
  } catch (error) {
    return `model ref '${ref}' is not a valid file URL: ${(error as Error).message}`;
  }
  if (path === undefined) return undefined;
  try {
    if (!statSync(path).isFile()) return `model path ${path} is not a file`;
  } catch {
    return `model file ${path} does not exist`;
  }
  return undefined;
}

/**
 * The mock's chat template, the same as the mock engine program's (docs/api.md#chat-messages):
 * `<|{role}|>\n{content}\n` per message, then `<|assistant|>\n`. The tokens come from the rendered
 * text as from a prompt, so a chat and the prompt it renders to give the same stream.
 */
export function renderMockChat(messages: readonly { role: string; content: string }[]): string {
  let text = "";
  for (const m of messages) text += `<|${m.role}|>\n${m.content}\n`;
  return `${text}<|assistant|>\n`;
}

const WORDS = [
  "the", "orchestrator", "streams", "tokens", "to", "every", "client", "in", "order", "while",
  "nodes", "keep", "their", "engines", "alive", "and", "queues", "stay", "bounded", "under", "load",
];

/** FNV-1a, enough to derive a deterministic token sequence from prompt and seed. */
function hash(text: string, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function mockVector(text: string, dims = 16): number[] {
  const v: number[] = [];
  for (let k = 0; k < dims; k++) v.push((fnv1a(`${k}:${text}`) / 0xffffffff) * 2 - 1);
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

export class MockEngine implements EngineAdapter {
  readonly engine = "mock";
  faults: MockFaults;
  private crashed = false;
  /** Set by the first health check (the engine's start): why it could not load its model. */
  private startError: string | undefined;
  private started = false;
  private readonly running = new Map<string, AbortController>();
  /** Requests seen, for tests: task ids in submit order. */
  readonly submitted: string[] = [];

  constructor(private readonly options: MockEngineOptions) {
    this.faults = { ...options.faults };
  }

  version(): string {
    return this.options.version ?? "mock-1";
  }

  /** Requests currently generating. */
  get active(): number {
    return this.running.size;
  }

  /** The model this engine loads. */
  get model(): string | undefined {
    return this.options.model;
  }

  /**
   * Loads the model once, like an engine process at spawn. A missing file is fatal: the engine
   * never comes up, and health keeps failing with the same reason.
   */
  private start(): void {
    if (this.started) return;
    this.started = true;
    this.startError = this.options.model === undefined ? undefined : checkModelFile(this.options.model);
  }

  async health(): Promise<EngineHealth> {
    this.start();
    if (this.startError) throw new EngineError("POOL_UNAVAILABLE", `mock engine failed to start: ${this.startError}`, true);
    if (this.crashed) return { live: false, ready: false };
    return { live: true, ready: !this.faults.unready };
  }

  async props(): Promise<EngineProps> {
    return { slots_total: this.options.slots ?? 1, ctx_max: this.options.ctxMax ?? 32768 };
  }

  /** Deterministic KV use for tests: the share of slots generating. */
  async kvCacheUsage(): Promise<number | undefined> {
    if (!this.started || this.startError || this.crashed) return undefined;
    return Math.min(1, this.running.size / Math.max(1, this.options.slots ?? 1));
  }

  async cancel(taskId: string): Promise<void> {
    this.running.get(taskId)?.abort(new Error("canceled"));
  }

  async close(): Promise<void> {
    for (const c of this.running.values()) c.abort(new Error("engine closed"));
  }

  /**
   * Deterministic fake vectors, the same as the mock engine program's (engines/mock-server/embedding.ts
   * describes them): 16 numbers from FNV-1a of `k:<text>`, scaled to length 1.
   */
  async embed(inputs: string[], signal: AbortSignal): Promise<EngineEmbeddings> {
    this.start();
    if (this.startError) throw new EngineError("POOL_UNAVAILABLE", `mock engine failed to start: ${this.startError}`, true);
    if (this.crashed) throw new EngineError("WORKER_RESET", "mock engine is down", true);
    if (signal.aborted) throw signal.reason;
    const tokens = inputs.reduce((n, s) => n + (s.match(/\S+/g)?.length ?? 0) + 1, 0);
    return { vectors: inputs.map((s) => mockVector(s)), tokens_in: tokens };
  }

  /** Brings a crashed mock back, as a restarted engine process would be. */
  revive(): void {
    this.crashed = false;
  }

  async *submit(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineEvent> {
    this.start();
    refuseUnsupported("mock", request);
    if (this.startError) throw new EngineError("POOL_UNAVAILABLE", `mock engine failed to start: ${this.startError}`, true);
    if (this.crashed) throw new EngineError("WORKER_RESET", "mock engine is down", true);
    const local = new AbortController();
    const both = AbortSignal.any([signal, local.signal]);
    this.running.set(request.task_id, local);
    this.submitted.push(request.task_id);
    const clock = this.options.clock;
    const started = clock.now();
    try {
      // An abort during warm-up (cancel or crash) falls through to the checks below, so it ends
      // like any other abort: `end` canceled, or WORKER_RESET after a crash, never a stray error.
      const warmedUp = this.faults.startDelayMs
        ? await clock.sleep(this.faults.startDelayMs, both).then(() => true, () => false)
        : true;
      const prompt = request.messages ? renderMockChat(request.messages) : request.prompt;
      if (warmedUp) yield { type: "started", engine_version: this.version(), tokens_in: prompt.length };
      const structured = mockStructured(request);
      if (structured && warmedUp && !both.aborted) {
        if (structured.text !== undefined) yield { type: "token", t: structured.text, i: 0 };
        return yield { type: "end", tokens_out: 1, decode_ms: clock.now() - started, stop_reason: "stop", ...(structured.calls ? { tool_calls: structured.calls } : {}) };
      }
      let h = hash(prompt, request.seed ?? 0);
      let emitted = 0;
      for (let i = 0; i < request.max_tokens; i++) {
        if (this.crashed) throw new EngineError("WORKER_RESET", "mock engine crashed", true);
        if (both.aborted) break;
        const f = this.faults;
        if (f.crashAfterTokens !== undefined && i >= f.crashAfterTokens) {
          this.crash();
          throw new EngineError("WORKER_RESET", `mock engine crashed after ${i} tokens`, true);
        }
        if (f.failAfterTokens !== undefined && i >= f.failAfterTokens) {
          throw new EngineError("INTERNAL", `mock engine failed the request after ${i} tokens`);
        }
        if (f.hangAfterTokens !== undefined && i >= f.hangAfterTokens) {
          await new Promise<void>((resolve) => both.addEventListener("abort", () => resolve(), { once: true }));
          break;
        }
        if (f.tokenDelayMs) {
          try {
            await clock.sleep(f.tokenDelayMs, both);
          } catch {
            break;
          }
        }
        h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
        const word = WORDS[h % WORDS.length]!;
        yield { type: "token", t: i === 0 ? word : ` ${word}`, i };
        emitted++;
      }
      if (this.crashed) throw new EngineError("WORKER_RESET", "mock engine crashed", true);
      const canceled = both.aborted;
      yield {
        type: "end",
        tokens_out: emitted,
        decode_ms: clock.now() - started,
        stop_reason: canceled ? "canceled" : "length",
      };
    } finally {
      this.running.delete(request.task_id);
    }
  }

  private crash(): void {
    this.crashed = true;
    for (const c of this.running.values()) c.abort(new Error("engine crashed"));
  }
}

/** The mock's structured answer (see the header), or undefined for plain text. */
export function mockStructured(r: EngineRequest): { text?: string; calls?: NonNullable<Extract<EngineEvent, { type: "end" }>["tool_calls"]> } | undefined {
  return structuredExample(r, `call_${r.task_id}_0`);
}
