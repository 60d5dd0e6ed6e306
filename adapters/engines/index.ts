export { EngineError, type EngineAdapter, type EngineEmbeddings, type EngineEvent, type EngineRequest, type EngineHealth, type EngineProps, type EngineErrorCode } from "./types.ts";
export { MockEngine, renderMockChat, type MockFaults, type MockEngineOptions } from "./mock.ts";
export { LlamaCppEngine, type LlamaCppEngineOptions } from "./llamacpp.ts";
export { OpenAiEngine, type OpenAiEngineOptions } from "./openai.ts";
export { redactSecrets, type HttpEngineHealth, type HttpEngineTimeouts } from "./http-stream.ts";
export { TgiEngine, type TgiEngineOptions } from "./tgi.ts";
