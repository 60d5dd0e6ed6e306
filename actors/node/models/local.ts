// Is a pool's local model file there? Asked before an engine starts (a missing file is a pool
// state, not an engine crash: docs/operations.md#a-missing-model-file). Only local paths can be
// missing: a name is a label, and https:// and hf: refs are downloaded (or refused) when resolved.

import { statSync } from "node:fs";
import { parseModelRef, type ParseOptions } from "./ref.ts";

/** Engines that load the model file themselves; the others take a name or talk to a server. */
export const FILE_ENGINES: ReadonlySet<string> = new Set(["builtin", "llamacpp", "mock-server"]);

/** `model file <path> does not exist` when `ref` names a local file that is not there, else undefined. */
export function missingModelFile(ref: string, options: ParseOptions): string | undefined {
  let parsed;
  try {
    parsed = parseModelRef(ref, options);
  } catch {
    return undefined; // a bad ref fails when the model is resolved, with its own reason
  }
  if (parsed.kind !== "file") return undefined;
  try {
    statSync(parsed.path);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "ENOENT" || code === "ENOTDIR" ? `model file ${parsed.path} does not exist` : undefined;
  }
}
