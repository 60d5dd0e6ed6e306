export { createControlApp, type ControlAppOptions } from "./control-app.ts";
export { serve, NODE_LINK_PATH, type HttpServer, type ServeOptions } from "./server.ts";
export { authorize, isLoopbackHost, parseBearer, tokenFp6, tokensEqual, MIN_TOKEN_LENGTH } from "./auth.ts";
export { createSseStream, sseFrame, isTerminal } from "./sse.ts";
export { errorResponse, fail } from "./errors.ts";
export type { ControlPort, StreamSink, Subscription, AdmitOutcome } from "./port.ts";
export * from "./schemas.ts";
export { createNodeApp, type NodeStatusSource } from "./node-app.ts";
