// The OpenAI-compatible surface (/v1): routes, request and response schemas, error mapping.

export { registerOpenAiRoutes, OPENAI_PATHS, type OpenAiRouteOptions } from "./routes.ts";
export { openAiFail, fromEnvelope, modelNotFound, type OpenAiErrorReply } from "./errors.ts";
export { chatMessages } from "./chat-messages.ts";
export { listModels, type ModelSources } from "./models.ts";
export * from "./schemas.ts";
