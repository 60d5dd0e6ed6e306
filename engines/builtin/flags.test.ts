// The engine's command line: defaults, llama-server spellings, and refusals with a reason.

import { expect, test } from "bun:test";
import { parseBuiltinEngineFlags } from "./flags.ts";

test("defaults: one thread, one slot, every layer on the GPU, random seeds", () => {
  expect(parseBuiltinEngineFlags(["--model", "m.gguf", "--port", "0"], 2)).toEqual({
    model: "m.gguf", host: "127.0.0.1", port: 0, threads: 1, parallel: 1, ctx: undefined, gpuLayers: "max", seed: -1, warnings: [],
  });
});

test("our flags and llama-server's spellings, with = or a separate value", () => {
  const f = parseBuiltinEngineFlags(["-m", "m.gguf", "--port=9000", "--host", "0.0.0.0", "-t", "2", "-np", "3", "-c", "2048", "-ngl", "10", "-s", "7", "-a", "tiny", "--metrics"], 4);
  expect(f).toMatchObject({ model: "m.gguf", port: 9000, host: "0.0.0.0", threads: 2, parallel: 3, ctx: 2048, gpuLayers: 10, seed: 7, alias: "tiny" });
  expect(parseBuiltinEngineFlags(["--model", "m", "--cpu"], 2).gpuLayers).toBe(0);
  expect(parseBuiltinEngineFlags(["--model", "m", "--gpu-layers", "all"], 2).gpuLayers).toBe("max");
  expect(parseBuiltinEngineFlags(["--model", "m", "--slot-layout", "shared-context"], 2).slotLayout).toBe("shared-context");
});

test("more threads than cores is lowered to the cores, with a warning", () => {
  const f = parseBuiltinEngineFlags(["--model", "m", "--threads", "8"], 2);
  expect(f.threads).toBe(2);
  expect(f.warnings).toEqual(["--threads 8 is more than the 2 CPU cores here; using 2"]);
});

test("bad input is refused with a message that names the flag", () => {
  const bad: [string[], string][] = [
    [["--port", "1"], "--model PATH is required"],
    [["--model", "m", "--threads", "0"], "--threads must be at least 1"],
    [["--model", "m", "--parallel", "x"], "--parallel needs a whole number"],
    [["--model", "m", "--ctx", "8"], "--ctx must be at least 16"],
    [["--model", "m", "--port", "70000"], "--port must be between 0 and 65535"],
    [["--model", "m", "--gpu-layers", "lots"], "--gpu-layers needs a whole number >= 0 or 'max'"],
    [["--model", "m", "--cpu", "--gpu-layers", "5"], "--cpu and --gpu-layers > 0 contradict"],
    [["--model", "m", "--seed", "-5"], "--seed must be -1"],
    [["--model", "m", "--slot-layout", "both"], "--slot-layout must be context-per-slot or shared-context"],
    [["--model"], "--model needs a value"],
    [["--model", "m", "--flash"], "unknown argument: --flash"],
  ];
  for (const [argv, message] of bad) expect(() => parseBuiltinEngineFlags(argv, 2)).toThrow(message);
});
