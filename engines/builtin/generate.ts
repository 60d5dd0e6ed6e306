// One completion on one slot: evaluate the prompt, sample token by token, stream text pieces,
// stop on max tokens, end-of-generation, a stop string, a full context or cancel.
//
// Determinism: the slot's history is cleared first (no prompt-cache reuse, whose batching could
// change the numbers), and node-llama-cpp makes a fresh sampler for each evaluation, seeded with
// the request's seed; temperature 0 is greedy. So (prompt, parameters, seed, replica) → the same
// tokens. Log probabilities (a request that asks): sampled with their metadata, and lined up with
// the text pieces by logprobs.ts; a request without them samples exactly as before. Cancel: the loop checks the signal after every token and leaves the evaluation, which
// frees the slot; a token being decoded when the signal fires still finishes (milliseconds).

import { LlamaGrammarEvaluationState, TokenBias, type LlamaModel, type Token } from "node-llama-cpp";
import type { Clock } from "../../runtime/index.ts";
import { vocabSize, type Slot } from "./load.ts";
import type { Sampling } from "./params.ts";
import { PieceDecoder, StopFilter } from "./text.ts";
import { LogprobAligner, sampledEntry, type LpEntry } from "./logprobs.ts";
import { JsonEnd } from "./structured.ts";

export type StopType = "limit" | "eos" | "word" | "none";

export interface Generation {
  /** All text sent (non-streamed responses carry it whole). */
  content: string;
  tokens_predicted: number;
  prompt_n: number;
  stop_type: StopType;
  stopping_word: string;
  canceled: boolean;
  /** Time until the first token was sampled (prompt evaluation). */
  prompt_ms: number;
  /** Time from the first token to the last. */
  predicted_ms: number;
  /** With `sampling.logprobs`: the entries of the tokens sent, in order (the pieces' together). */
  probs?: LpEntry[];
}

export interface StreamPiece {
  content: string;
  tokens: number[];
  tokens_predicted: number;
  /** With `sampling.logprobs`: the entries of exactly the tokens whose text this piece holds. */
  probs?: LpEntry[];
}

export interface GenerateOptions {
  model: LlamaModel;
  slot: Slot;
  prompt: number[];
  /** With the seed resolved (never -1). */
  sampling: Sampling;
  signal: AbortSignal;
  clock: Clock;
  onPiece?: (piece: StreamPiece) => void;
}

const eogBiases = new WeakMap<LlamaModel, TokenBias | null>();

/**
 * A bias that makes end-of-generation tokens impossible (llama-server's ignore_eos). TokenBias.set
 * skips EOG tokens on purpose, so they go into its map directly; when that private map is not
 * there (another node-llama-cpp version) an EOG token is sampled, counted and passed over instead.
 */
function eogBias(model: LlamaModel): TokenBias | undefined {
  let bias = eogBiases.get(model);
  if (bias === undefined) {
    bias = new TokenBias(model.tokenizer);
    const map = (bias as unknown as { _biases?: unknown })._biases;
    if (map instanceof Map) {
      const candidates = new Set<Token>([model.tokens.eos, model.tokens.eot].filter((t): t is Token => t !== null));
      for (let t = 0; t < (vocabSize(model) ?? 0); t++) if (model.isEogToken(t as Token)) candidates.add(t as Token);
      for (const t of candidates) map.set(t, -Infinity);
    } else bias = null;
    eogBiases.set(model, bias);
  }
  return bias ?? undefined;
}

/** Most recent generated tokens the penalties look at. */
const PENALTY_WINDOW = 256;

/** The request's logit_bias (and ignore_eos's ban on end-of-generation tokens) as one TokenBias. */
function tokenBias(model: LlamaModel, sampling: Sampling): TokenBias | undefined {
  const eog = sampling.ignore_eos ? eogBias(model) : undefined;
  if (sampling.logit_bias.length === 0) return eog;
  const bias = new TokenBias(model.tokenizer);
  const vocab = vocabSize(model) ?? Infinity;
  for (const [token, value] of sampling.logit_bias) {
    if (token >= vocab) continue; // no such token: nothing to bias
    bias.set(token as Token, value === false ? "never" : { logit: value });
  }
  const from = (eog as unknown as { _biases?: Map<Token, number> } | undefined)?._biases;
  const to = (bias as unknown as { _biases?: Map<Token, number> })._biases;
  if (from && to) for (const [t, v] of from) to.set(t, v);
  return bias;
}

export async function generate(o: GenerateOptions): Promise<Generation> {
  const { model, slot, prompt, sampling, signal, clock } = o;
  const started = clock.now();
  const limit = Math.max(0, Math.min(sampling.n_predict < 0 ? Infinity : sampling.n_predict, slot.nCtx - prompt.length));
  const decoder = new PieceDecoder((tokens, context) => model.detokenize(tokens as Token[], false, context as Token[]), prompt);
  const stops = new StopFilter(sampling.stop);
  let content = "";
  let n = 0;
  let stopType: StopType = "limit";
  let stoppingWord = "";
  let firstAt: number | undefined;
  const top = sampling.logprobs;
  const aligner = top === undefined ? undefined : new LogprobAligner();
  const probs: LpEntry[] | undefined = aligner && [];
  const sendText = (text: string, tokens: number[], entries?: LpEntry[]) => {
    if (text === "" || signal.aborted) return;
    content += text;
    if (entries) for (const e of entries) probs!.push(e);
    o.onPiece?.({ content: text, tokens, tokens_predicted: n, ...(entries ? { probs: entries } : {}) });
  };
  /** Text the stop filter released; with log probabilities, cut at a token's end (logprobs.ts). */
  const send = (text: string, tokens: number[], stopped?: boolean) => {
    if (!aligner) return sendText(text, tokens);
    const piece = stopped === undefined ? aligner.release(text) : aligner.finish(text, stopped);
    sendText(piece.text, piece.entries.map((e) => e.token), piece.entries);
  };

  if (limit > 0 && !signal.aborted) {
    await slot.sequence.clearHistory();
    const generated: Token[] = [];
    const jsonEnd = sampling.grammar ? new JsonEnd() : undefined;
    const penalize = sampling.presence_penalty !== 0 || sampling.frequency_penalty !== 0;
    const options = {
      temperature: sampling.temperature,
      topK: sampling.top_k,
      topP: sampling.top_p,
      minP: sampling.min_p,
      seed: sampling.seed,
      tokenBias: tokenBias(model, sampling),
      grammarEvaluationState: sampling.grammar ? new LlamaGrammarEvaluationState({ model, grammar: sampling.grammar }) : undefined,
      repeatPenalty: penalize
        ? {
            punishTokens: () => generated.slice(-PENALTY_WINDOW),
            maxPunishTokens: PENALTY_WINDOW,
            penalty: 1,
            presencePenalty: sampling.presence_penalty,
            frequencyPenalty: sampling.frequency_penalty,
          }
        : undefined,
      // We see EOG tokens ourselves: to count them, and to pass over them under ignore_eos.
      yieldEogToken: true,
    };
    // Alternatives need the whole distribution; the token's own probability alone is cheaper.
    const tokens =
      top === undefined ? slot.sequence.evaluate(prompt as Token[], options) : slot.sequence.evaluateWithMetadata(prompt as Token[], top > 0 ? { probabilities: true } : { confidence: true }, options);
    const textOf = (t: number) => model.detokenize([t as Token], false, decoder.context() as Token[]);
    for await (const item of tokens) {
      if (signal.aborted) break;
      const token = typeof item === "number" ? item : item.token;
      firstAt ??= clock.now();
      n++;
      if (penalize) generated.push(token);
      if (model.isEogToken(token) && !sampling.ignore_eos) {
        stopType = "eos";
        break;
      }
      if (aligner && typeof item !== "number") aligner.sampled(sampledEntry(token, item as { probabilities?: Map<number, number>; confidence?: number }, top!, textOf));
      const piece = decoder.push(token);
      if (aligner && piece.tokens.length > 0) aligner.decoded(piece.text, piece.tokens.length);
      if (piece.text !== "") {
        const { send: text, stop } = stops.push(piece.text);
        send(text, piece.tokens, stop === undefined ? undefined : true);
        if (stop !== undefined) {
          stopType = "word";
          stoppingWord = stop;
          break;
        }
        // A JSON grammar allows whitespace after the value until max_tokens: the value's end ends it.
        if (jsonEnd?.push(piece.text)) {
          stopType = "eos";
          break;
        }
      }
      if (n >= limit) break;
    }
  }
  const canceled = signal.aborted;
  if (canceled) stopType = "none";
  else if (stopType !== "word") {
    // Generation is over: what was held for a character or a possible stop string goes out.
    const rest = decoder.flush();
    if (aligner && rest.tokens.length > 0) aligner.decoded(rest.text, rest.tokens.length);
    const tail = stops.push(rest.text);
    if (tail.stop !== undefined) [stopType, stoppingWord] = ["word", tail.stop];
    send(tail.stop !== undefined ? tail.send : tail.send + stops.flush(), rest.tokens, tail.stop !== undefined);
  }
  const ended = clock.now();
  return {
    content,
    tokens_predicted: n,
    prompt_n: prompt.length,
    stop_type: stopType,
    stopping_word: stoppingWord,
    canceled,
    prompt_ms: (firstAt ?? ended) - started,
    predicted_ms: ended - (firstAt ?? ended),
    ...(probs ? { probs } : {}),
  };
}
