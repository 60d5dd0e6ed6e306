// The built-in engine: a program of ours that a node runs as an engine child. It loads a GGUF with
// node-llama-cpp and speaks llama-server's HTTP API, the one adapters/engines/llamacpp.ts uses:
//   bun engines/builtin/main.ts --model PATH --port N [--host H] [--threads N] [--parallel N]
//       [--ctx N] [--gpu-layers N|max] [--cpu] [--seed N] [--alias NAME] [--slot-layout L]
// GET /health (503 while loading), /props, /slots, /metrics, /v1/models; POST /completion
// (streamed or not), /v1/completions, /v1/chat/completions. Without --cpu it offloads every
// layer to CUDA and exits 1 when CUDA is missing. SIGTERM: stop accepting, abort the running
// generations, exit 0 (within a second). The parts live in ./builtin/.

import { fileURLToPath } from "node:url";
import { appendFileSync, writeSync } from "node:fs";
import { RealClock } from "../../runtime/index.ts";
import { BUILTIN_ENGINE_USAGE, parseBuiltinEngineFlags, type BuiltinEngineFlags } from "./flags.ts";
import type { BuiltinEngineHandle } from "./server.ts";

// Light on purpose: a node imports this module for the argv only, and node-llama-cpp (≈130 ms to
// import) is loaded by the program itself (main), or by tests from ./builtin/server.ts.
export { BUILTIN_ENGINE_USAGE, parseBuiltinEngineFlags, type BuiltinEngineFlags } from "./flags.ts";
export type { BuiltinEngineHandle, BuiltinEngineOptions } from "./server.ts";

/** This program's file, for spawning it. */
export const BUILTIN_ENGINE_PATH = fileURLToPath(import.meta.url);

/** The argv that runs this program with the same bun as the caller. */
export function builtinEngineArgv(flags: string[]): string[] {
  return [process.execPath, BUILTIN_ENGINE_PATH, ...flags];
}

/**
 * LLORCH_ENGINE_PROMPT_FILE=PATH (a debugging aid, off by default): every prompt the engine
 * evaluates is appended to PATH as one JSON line `{"tokens":N,"text":"…"}`, the text with special
 * tokens spelled out, i.e. the chat template as the model saw it. Prompts are secrets: the file
 * is created 0600, and the engine warns at start that it is on.
 */
function promptFile(path: string | undefined, log: (line: string) => void): ((p: { tokens: readonly number[]; text: string }) => void) | undefined {
  if (!path) return undefined;
  log(`warning: LLORCH_ENGINE_PROMPT_FILE is set: every evaluated prompt is written to ${path} (a debugging aid; prompts are secrets)`);
  return (p) => appendFileSync(path, `${JSON.stringify({ tokens: p.tokens.length, text: p.text })}\n`, { mode: 0o600 });
}

/** How long SIGTERM waits for running generations to notice the abort before exiting anyway. */
const SIGTERM_GRACE_MS = 500;

async function main(argv: string[]): Promise<void> {
  const out = (line: string) => void writeSync(1, `${line}\n`);
  let flags: BuiltinEngineFlags;
  try {
    if (argv.includes("--help") || argv.includes("-h")) {
      out(BUILTIN_ENGINE_USAGE);
      process.exit(0);
    }
    flags = parseBuiltinEngineFlags(argv);
  } catch (error) {
    writeSync(2, `error: ${(error as Error).message}\n${BUILTIN_ENGINE_USAGE}\n`);
    process.exit(1);
  }
  const clock = new RealClock();
  let engine: BuiltinEngineHandle | undefined;
  // Registered first: a SIGTERM while node-llama-cpp is still being imported also exits 0.
  const shutdown = (signal: string) => {
    out(`main: received ${signal}, shutting down`);
    if (!engine) process.exit(0);
    clock.setTimeout(() => process.exit(0), SIGTERM_GRACE_MS);
    void engine.abort().then(() => process.exit(0));
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  const { startBuiltinEngine } = await import("./server.ts");
  engine = startBuiltinEngine(flags, { clock, log: out, onPrompt: promptFile(process.env.LLORCH_ENGINE_PROMPT_FILE, out) });
  engine.ready.catch(() => process.exit(1));
}

if (import.meta.main) await main(process.argv.slice(2));
