// The HTTP adapter as the entry points assemble it: the control plane app and server, the node's
// ops app, auth helpers, SSE and the client WebSocket. Wire shapes and ports are in contract/.

export { createControlApp, type ControlAppOptions } from "./control-app.ts";
export { serve, NODE_LINK_PATH, CONNECTION_LIMITS, type ConnectionLimits, type HttpServer, type ServeOptions } from "./server.ts";
export { authorize, isLoopbackHost, parseBearer, tokenFp6, tokensEqual, MIN_TOKEN_LENGTH, type ClientCredentials, type KeyLookup } from "./auth.ts";
export { ClientKeys, ClientKeysError, parseKeysEnv, parseKeysFile, KEYS_RECHECK_MS, MAX_KEYS_FILE_BYTES } from "./client-keys.ts";
export { createSseStream, sseFrame, isTerminal } from "./sse.ts";
export { errorResponse, fail } from "./errors.ts";
export { createNodeApp, type NodeStatusSource } from "./node-app.ts";
export { openWsSession, upgradeAuth, WS_PATH, WS_LIMITS, WS_CLOSE, type WsSession, type WsSocket, type WsLimits } from "./ws-api.ts";
export type { ClientWsOptions } from "./server.ts";
