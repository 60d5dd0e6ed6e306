// The hardware edge of a node (used by actors/node/** and actors/dev.ts only): re-exports.

export * from "./nvml/index.ts";
export * from "./process/index.ts";
export * from "./models/tiny-gguf.ts";
