export { EnvelopeSchema, parseEnvelope, ENVELOPE_VERSION, type Envelope } from "./envelope.ts";
export { BaseLink, type Link } from "./link.ts";
export { MemoryLink, memoryLinkPair } from "./memory.ts";
export { ServerWsLink, ClientWsLink } from "./websocket.ts";
export { RemoteEndpoint, RemoteRef, RemoteError, type EndpointOptions, type InboundVerdict, type RefusalReason } from "./endpoint.ts";
export { LinkKeeper, LINK_BACKOFF, type Connector, type LinkKeeperOptions } from "./keeper.ts";
export { toWire, fromWire, WireError } from "./wire.ts";
