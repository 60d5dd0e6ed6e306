// The loaded engine as the HTTP layer sees it: prompt checks (tokenize, context fit), a slot per
// request (waiting when all are busy), the generation, counters for /metrics, and one log line
// per request (never the prompt's text).

import { randomInt } from "node:crypto";
import type { LlamaText, Token } from "node-llama-cpp";
import type { Clock } from "../../runtime/index.ts";
import { generate, type Generation, type StreamPiece } from "./generate.ts";
import { vocabSize, type LoadedModel, type Slot } from "./load.ts";
import { RequestError, type Sampling } from "./params.ts";
import { SlotPool } from "./slots.ts";

export interface Finished extends Generation {
  slot: number;
  task: number;
  seed: number;
}

export interface EngineCounters {
  prompt_tokens_total: number;
  prompt_seconds_total: number;
  tokens_predicted_total: number;
  tokens_predicted_seconds_total: number;
  n_decode_total: number;
}

export interface BuiltinEngineOptions {
  clock: Clock;
  log: (line: string) => void;
  /** --seed: for requests without one; -1 draws a random seed per request. */
  defaultSeed: number;
  /**
   * Sees each prompt as evaluated: its tokens and their text with special tokens spelled out.
   * A debugging and test aid (LLORCH_ENGINE_PROMPT_FILE); prompts are secrets, never logged.
   */
  onPrompt?: (prompt: EvaluatedPrompt) => void;
}

export interface EvaluatedPrompt {
  tokens: readonly number[];
  text: string;
}

export class BuiltinEngine {
  readonly pool: SlotPool<Slot>;
  readonly counters: EngineCounters = { prompt_tokens_total: 0, prompt_seconds_total: 0, tokens_predicted_total: 0, tokens_predicted_seconds_total: 0, n_decode_total: 0 };
  /** Aborted at shutdown: every generation stops at its next token. */
  private readonly shutdown = new AbortController();
  private readonly vocabSize: number | undefined;
  private readonly tasks = new Map<number, number>(); // slot id → task id
  private nextTask = 0;
  private readonly active = new Set<Promise<unknown>>();

  constructor(
    readonly loaded: LoadedModel,
    private readonly options: BuiltinEngineOptions,
  ) {
    this.pool = new SlotPool(loaded.slots);
    this.vocabSize = vocabSize(loaded.model);
  }

  get nCtx(): number {
    return this.loaded.nCtx;
  }

  taskOf(slot: Slot): number | undefined {
    return this.tasks.get(slot.id);
  }

  /** Prompt (text, token ids or a rendered chat) → tokens as llama-server does: special tokens
   * parsed, BOS first when the model wants it; refused when it does not fit a slot's context. */
  tokenize(prompt: string | number[] | LlamaText): number[] {
    const { model } = this.loaded;
    let tokens: number[];
    if (!Array.isArray(prompt)) {
      tokens = typeof prompt === "string" ? [...model.tokenize(prompt, true)] : [...prompt.tokenize(model.tokenizer)];
      const bos = model.tokens.bos;
      if (model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
    } else {
      const bad = this.vocabSize === undefined ? undefined : prompt.find((t) => t >= this.vocabSize!);
      if (bad !== undefined) throw new RequestError(400, `invalid token id ${bad} in "prompt": the vocabulary has ${this.vocabSize} tokens`);
      tokens = [...prompt];
    }
    if (tokens.length === 0) throw new RequestError(400, "the prompt is empty");
    if (tokens.length >= this.nCtx) {
      throw new RequestError(400, `the request exceeds the available context size, try increasing it (prompt: ${tokens.length} tokens, context per slot: ${this.nCtx})`, "exceed_context_size_error");
    }
    return tokens;
  }

  /** The seed a request runs with: its own, else --seed, else a fresh random one. */
  seedFor(seed: number): number {
    if (seed >= 0) return seed;
    return this.options.defaultSeed >= 0 ? this.options.defaultSeed : randomInt(0, 0xffffffff);
  }

  /** Waits for a slot, generates, frees the slot. Rejects if the client leaves while waiting. */
  run(prompt: number[], sampling: Sampling, signal: AbortSignal, onPiece?: (piece: StreamPiece, slot: number) => void): Promise<Finished> {
    const running = this.runOnSlot(prompt, sampling, signal, onPiece);
    this.active.add(running);
    const forget = () => void this.active.delete(running);
    running.then(forget, forget);
    return running;
  }

  private async runOnSlot(prompt: number[], sampling: Sampling, signal: AbortSignal, onPiece?: (piece: StreamPiece, slot: number) => void): Promise<Finished> {
    const { clock, log } = this.options;
    const stop = AbortSignal.any([signal, this.shutdown.signal]);
    const slot = await this.pool.acquire(stop);
    const task = this.nextTask++;
    this.tasks.set(slot.id, task);
    const seed = this.seedFor(sampling.seed);
    if (this.options.onPrompt) this.options.onPrompt({ tokens: prompt, text: this.loaded.model.detokenize(prompt as Token[], true) });
    try {
      const g = await generate({ model: this.loaded.model, slot, prompt, sampling: { ...sampling, seed }, signal: stop, clock, onPiece: onPiece && ((p) => onPiece(p, slot.id)) });
      const c = this.counters;
      c.prompt_tokens_total += g.prompt_n;
      c.prompt_seconds_total += g.prompt_ms / 1000;
      c.tokens_predicted_total += g.tokens_predicted;
      c.tokens_predicted_seconds_total += g.predicted_ms / 1000;
      c.n_decode_total += g.tokens_predicted;
      if (g.canceled) log(`srv  cancel_tasks: cancel task, id_task = ${task}`);
      const rate = g.predicted_ms > 0 ? ((g.tokens_predicted * 1000) / g.predicted_ms).toFixed(1) : "-";
      log(
        `slot      release: id ${slot.id} | task ${task} | stop processing: n_decoded = ${g.tokens_predicted}, prompt_n = ${g.prompt_n}, ` +
          `stop = ${g.stop_type}, canceled = ${g.canceled ? 1 : 0} | prompt ${g.prompt_ms} ms, eval ${g.predicted_ms} ms, ${rate} tok/s`,
      );
      return { ...g, slot: slot.id, task, seed };
    } finally {
      this.tasks.delete(slot.id);
      this.pool.release(slot);
    }
  }

  /** Shutdown: running generations stop at their next token, waiting requests fail. */
  abortAll(): void {
    this.shutdown.abort(new Error("the engine is shutting down"));
    this.pool.close();
  }

  /** Settles when no generation runs any more (after abortAll: within a token). */
  async drain(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
  }
}
