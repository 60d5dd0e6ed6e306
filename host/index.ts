// The host machine's edge of a node (used by actors/node/** and actors/dev.ts only): NVML through
// bun:ffi, and engine child processes in their own process groups.

export * from "./nvml/index.ts";
export * from "./process/index.ts";
