// Loading the model with node-llama-cpp and laying out the slots.
//
// Device: without --cpu the engine offloads to CUDA and fails (EngineLoadError, exit 1) when the
// CUDA binary or driver is missing: the node decides whether a pool may run on the CPU and says
// so with --cpu, the engine never falls back on its own.
//
// Slot layout, measured with the tiny model on 2 cores (threads 1 each): one context per slot
// runs the slots on separate cores (2 parallel streams ≈ 3.1k tok/s in total, each stream as fast
// as alone), while one context holding N sequences decodes them as one batch on one thread
// (≈ 1.5k tok/s in total). So the CPU gets a context per slot. On a GPU one context with N
// sequences is the efficient layout (batched decoding), as in llama-server. A context per slot
// also keeps a slot's numbers independent of what the other slots run.

import { existsSync, statSync } from "node:fs";
import { getLlama, getModuleVersion, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel } from "node-llama-cpp";
import type { BuiltinEngineFlags } from "./flags.ts";

/** The default context per slot when --ctx is not given (the tiny model's is 8192). */
const DEFAULT_CTX_CAP = 8192;

export interface Slot {
  id: number;
  sequence: LlamaContextSequence;
  /** Tokens this slot holds (prompt + generated). */
  nCtx: number;
}

export interface LoadedModel {
  llama: Llama;
  model: LlamaModel;
  contexts: LlamaContext[];
  slots: Slot[];
  layout: "context-per-slot" | "shared-context";
  /** "cuda" or "cpu". */
  device: string;
  gpuLayers: number;
  nCtx: number;
  buildInfo: string;
  chatTemplate?: string;
  dispose(): Promise<void>;
}

/** Tokens in the model's vocabulary, from the GGUF metadata (undefined when it does not say). */
export function vocabSize(model: LlamaModel): number | undefined {
  const tokens: unknown = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
  return Array.isArray(tokens) ? tokens.length : undefined;
}

export class EngineLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EngineLoadError";
  }
}

const LEVELS: Partial<Record<LlamaLogLevel, string>> = { [LlamaLogLevel.error]: "error", [LlamaLogLevel.fatal]: "error", [LlamaLogLevel.warn]: "warn" };

export async function loadModel(flags: BuiltinEngineFlags, log: (line: string) => void): Promise<LoadedModel> {
  if (!existsSync(flags.model)) throw new EngineLoadError(`failed to open ${flags.model}: No such file or directory`);
  if (!statSync(flags.model).isFile()) throw new EngineLoadError(`failed to open ${flags.model}: not a regular file`);
  const cpu = flags.gpuLayers === 0;
  let llama: Llama;
  try {
    llama = await getLlama({
      gpu: cpu ? false : "cuda",
      build: "never",
      skipDownload: true,
      progressLogs: false,
      // 0: a context's `threads` is exactly what it uses (else it is a hint node-llama-cpp lowers).
      maxThreads: 0,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => {
        const text = message.trimEnd();
        if (text) log(`llama.cpp ${LEVELS[level] ?? "info"}: ${text}`);
      },
    });
  } catch (error) {
    if (cpu) throw new EngineLoadError(`cannot load llama.cpp for the CPU: ${(error as Error).message}`);
    // node-llama-cpp says only "NoBinaryFoundError" when its CUDA build cannot load (no driver, no GPU).
    throw new EngineLoadError(
      `CUDA was requested (--gpu-layers ${flags.gpuLayers}) but cannot be used here: no usable CUDA device or driver for llama.cpp's CUDA build (${(error as Error).message}). Pass --cpu to run on the CPU.`,
    );
  }
  try {
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: flags.model, gpuLayers: cpu ? 0 : flags.gpuLayers });
    } catch (error) {
      throw new EngineLoadError(`error loading model ${flags.model}: ${(error as Error).message}`);
    }
    const nCtxWanted = flags.ctx ?? Math.min(model.trainContextSize, DEFAULT_CTX_CAP);
    const layout = flags.slotLayout ?? (cpu ? "context-per-slot" : "shared-context");
    const contexts: LlamaContext[] = [];
    try {
      const common = { contextSize: nCtxWanted, threads: flags.threads, failedCreationRemedy: false as const };
      if (layout === "context-per-slot") for (let i = 0; i < flags.parallel; i++) contexts.push(await model.createContext({ ...common, sequences: 1 }));
      else contexts.push(await model.createContext({ ...common, sequences: flags.parallel }));
    } catch (error) {
      for (const c of contexts) await c.dispose().catch(() => undefined);
      await model.dispose().catch(() => undefined);
      throw new EngineLoadError(`cannot create a context of ${nCtxWanted} tokens x ${flags.parallel} slots: ${(error as Error).message}`);
    }
    const sequences = layout === "context-per-slot" ? contexts.map((c) => c.getSequence()) : Array.from({ length: flags.parallel }, () => contexts[0]!.getSequence());
    const slots = sequences.map((sequence, id) => ({ id, sequence, nCtx: sequence.contextSize }));
    const template = model.fileInfo.metadata.tokenizer?.chat_template;
    return {
      llama,
      model,
      contexts,
      slots,
      layout,
      device: cpu ? "cpu" : String(llama.gpu),
      gpuLayers: model.gpuLayers,
      nCtx: slots[0]!.nCtx,
      buildInfo: `${llama.llamaCppRelease.release}-node-llama-cpp-${await getModuleVersion()}`,
      chatTemplate: typeof template === "string" && template ? template : undefined,
      dispose: async () => {
        for (const c of contexts) await c.dispose().catch(() => undefined);
        await model.dispose().catch(() => undefined);
        await llama.dispose().catch(() => undefined);
      },
    };
  } catch (error) {
    await llama.dispose().catch(() => undefined);
    throw error;
  }
}
