// Node credentials apart from client credentials. With a node token (LLORCH_NODE_TOKEN) set, the
// node link and the REST routes that change node membership take only it, and no client route
// takes it; without one, nodes present the shared client token (LLORCH_API_TOKEN), as before.
// Named client keys never open the node side. Tokens never reach logs: identities carry an fp6.

import { parseBearer, tokenFp6, tokensEqual, type AuthOutcome } from "./auth.ts";

/** What nodes may present: the node token when set, else the shared client token. */
export interface NodeCredentials {
  nodeToken?: string;
  apiToken?: string;
}

const HEARTBEAT_RE = /^\/v2\/nodes\/[^/]+\/heartbeat$/;
const NODE_RE = /^\/v2\/nodes\/[^/]+$/;

/** The node link's upgrade path (server.ts serves it). */
const NODE_LINK = "/v2/nodes/link";

/** The node link upgrade, POST /v2/nodes/register, POST /v2/nodes/{id}/heartbeat, DELETE /v2/nodes/{id}. */
export function isNodeRoute(method: string, path: string): boolean {
  if (method === "GET") return path === NODE_LINK;
  if (method === "POST") return path === "/v2/nodes/register" || HEARTBEAT_RE.test(path);
  return method === "DELETE" && NODE_RE.test(path) && path !== NODE_LINK;
}

/** Decides a node's request (the link upgrade, a membership route). No credential set: open. */
export function authorizeNode(header: string | null | undefined, creds: NodeCredentials): AuthOutcome {
  const expected = creds.nodeToken || creds.apiToken;
  if (!expected) return { ok: true, identity: "localhost" };
  const bearer = parseBearer(header);
  if (!bearer.ok) return { ok: false, code: "MISSING_TOKEN", identity: "anonymous" };
  if (!tokensEqual(bearer.token, expected)) return { ok: false, code: "BAD_TOKEN", identity: `token:${tokenFp6(bearer.token)}` };
  return { ok: true, identity: `${creds.nodeToken ? "node" : "token"}:${tokenFp6(expected)}` };
}

/**
 * The node side of the client guard. Undefined: a client matter, for the client auth to decide.
 * Otherwise the outcome: with a node token set, a node route is decided by it alone, and
 * the node token presented anywhere else is refused (`BAD_TOKEN`).
 */
export function nodeAuthFor(method: string, path: string, header: string | null | undefined, nodeToken: string | undefined): AuthOutcome | undefined {
  if (!nodeToken) return undefined;
  if (isNodeRoute(method, path)) return authorizeNode(header, { nodeToken });
  const bearer = parseBearer(header);
  if (bearer.ok && tokensEqual(bearer.token, nodeToken)) return { ok: false, code: "BAD_TOKEN", identity: `node:${tokenFp6(nodeToken)}` };
  return undefined;
}
