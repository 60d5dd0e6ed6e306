// `bun run model:tiny [PATH] [--seed N] [--context-length N]`: writes the tiny test model (a random-
// weight llama GGUF, see engines/tiny-model/tiny-gguf.ts) to PATH, by default .cache/models/tiny-llama.gguf.
// Leaves an identical file alone, so it is cheap to run before every dev start or test run.

import { DEFAULT_TINY_MODEL_PATH, ensureTinyModel, type TinyModelOptions } from "../engines/tiny-model/tiny-gguf.ts";

const USAGE = "usage: bun run model:tiny [PATH] [--seed N] [--context-length N]";

/** Parses argv (without bun and the script); throws with a user-facing message on bad input. */
export function parseModelTinyArgs(argv: string[]): { path: string; options: TinyModelOptions; help: boolean } {
  let path: string | undefined;
  const options: TinyModelOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    if (flag === "-h" || flag === "--help") return { path: DEFAULT_TINY_MODEL_PATH, options, help: true };
    if (flag === "--seed" || flag === "--context-length" || flag === "--ctx") {
      const raw = inline ?? argv[++i];
      const n = Number(raw);
      if (raw === undefined || raw.trim() === "" || !Number.isInteger(n)) throw new Error(`${flag} needs an integer, got ${raw ?? "nothing"}`);
      if (flag === "--seed") options.seed = n;
      else options.contextLength = n;
    } else if (flag.startsWith("-")) {
      throw new Error(`unknown flag ${flag}`);
    } else if (path === undefined) {
      path = argv[i]!;
    } else {
      throw new Error(`one PATH only, got ${path} and ${argv[i]}`);
    }
  }
  return { path: path ?? DEFAULT_TINY_MODEL_PATH, options, help: false };
}

if (import.meta.main) {
  try {
    const args = parseModelTinyArgs(process.argv.slice(2));
    if (args.help) {
      console.log(`${USAGE}\nwrites a ~0.5 MB random-weight llama GGUF (default ${DEFAULT_TINY_MODEL_PATH})`);
    } else {
      const out = ensureTinyModel(args.path, args.options);
      console.log(`${out.written ? "wrote" : "up to date"} ${out.path} (${out.bytes} bytes, sha256:${out.sha256})`);
    }
  } catch (err) {
    console.error(`model:tiny: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exit(2);
  }
}
