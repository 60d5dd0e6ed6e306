// A real control plane and node running the built-in engine on the tiny model (`bun run control`
// + `bun run node --model tiny-llama.gguf --allow-cpu`, no GPU), for the tests that drive the
// OpenAI surface with unmodified client libraries. `useBuiltinPair` starts it before a file's tests
// and stops both processes after them.

import { afterAll, beforeAll } from "bun:test";
import { DEFAULT_TINY_MODEL_PATH, ensureTinyModel } from "../../engines/tiny-model/tiny-gguf.ts";
import { spawnService, type Service } from "./process.ts";

/** The model name the node serves the tiny model under (its file name). */
export const TINY_MODEL = "tiny-llama";

export interface BuiltinPair {
  base: string;
  control: Service;
  node: Service;
  stop(): Promise<void>;
}

export async function startBuiltinPair(env: Record<string, string> = {}): Promise<BuiltinPair> {
  ensureTinyModel(DEFAULT_TINY_MODEL_PATH);
  const services: Service[] = [];
  const stop = async () => {
    for (const s of services.splice(0).reverse()) await s.stop("SIGTERM");
  };
  try {
    const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0"], env);
    services.push(control);
    const base = String((await control.waitFor((l) => l.event === "listening", "control listening")).url).replace(/\/$/, "");
    const node = spawnService(["actors/node/main.ts", "--control", base, "--model", DEFAULT_TINY_MODEL_PATH, "--allow-cpu", "--addr", "127.0.0.1:0", "--node-id", "n1"], {
      NVML_LIBRARY_PATH: "/nonexistent/libnvidia-ml.so.1",
      ...env,
    });
    services.push(node);
    await control.waitFor((l) => l.msg === "Pool default on node n1 is ready", "pool ready");
    return { base, control, node, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Starts a pair before the file's tests and stops it after them; `base` is its URL once started. */
export function useBuiltinPair(env: Record<string, string> = {}): { readonly base: string } {
  let pair: BuiltinPair | undefined;
  beforeAll(async () => {
    pair = await startBuiltinPair(env);
  }, 60_000);
  afterAll(async () => {
    await pair?.stop();
  });
  return {
    get base() {
      if (!pair) throw new Error("the built-in pair is not started yet");
      return pair.base;
    },
  };
}
