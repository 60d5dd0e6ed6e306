export { EngineError, type EngineAdapter, type EngineEvent, type EngineRequest, type EngineHealth, type EngineProps, type EngineErrorCode } from "./types.ts";
export { MockEngine, type MockFaults, type MockEngineOptions } from "./mock.ts";
export { LlamaCppEngine, type LlamaCppEngineOptions } from "./llamacpp.ts";
export { OpenAiEngine, redactSecrets, type OpenAiEngineOptions, type HttpEngineHealth, type HttpEngineTimeouts } from "./openai.ts";
export { TgiEngine, type TgiEngineOptions } from "./tgi.ts";
