// The control plane's gate on a node link: every envelope a node sends is decided here before
// any actor sees it. A node may send the registry `register`, `heartbeat` and `deregister`, the
// latter two (and any register after the first) only for the node id the link registered; it may
// send a task only the engine messages, and only a task whose dispatch went over this link.
// Every payload is checked against its schema (contract/link.ts) in its wire form. O(1) per
// envelope but the payload check; the token messages, the relay's hot path, are checked by hand.

import { z } from "zod";
import type { Envelope, InboundVerdict } from "../../../adapters/transport/index.ts";
import {
  DeregisterPayload,
  HeartbeatPayload,
  isEngineTokenPayload,
  isEngineTokensPayload,
  REGISTRY_PATH,
  RegisterPayload,
  TASK_ENGINE_PAYLOADS,
} from "../../../contract/link.ts";
import type { LinkBook } from "./link-book.ts";

export const TASKS_PREFIX = "control/tasks/";
/** What a node link may address: everything else is refused before the gate. */
export const NODE_LINK_EXPORTS = [REGISTRY_PATH, TASKS_PREFIX];

/** A ref to an actor on the node's side, as it travels (`register.agent`). */
const NodeRefMarker = z.object({ $ref: z.string().min(1).max(256) }).strict();

const REGISTRY_PAYLOADS = new Map<string, z.ZodType<{ node_id: string }>>([
  ["register", RegisterPayload.extend({ agent: NodeRefMarker }).strict()],
  ["heartbeat", HeartbeatPayload.strict()],
  ["deregister", DeregisterPayload],
]);
const TASK_PAYLOADS = new Map<string, z.ZodType | ((p: unknown) => boolean)>([
  ...Object.entries(TASK_ENGINE_PAYLOADS),
  ["engine-token", isEngineTokenPayload],
  ["engine-tokens", isEngineTokensPayload],
]);

const PASS: InboundVerdict = { ok: true };

const refuse = (code: "INVALID_MESSAGE" | "ACTOR_STOPPED", reason: Extract<InboundVerdict, { ok: false }>["reason"], message: string): InboundVerdict => ({
  ok: false,
  code,
  reason,
  message,
});

function validPayload(check: z.ZodType | ((p: unknown) => boolean), payload: unknown): boolean {
  return typeof check === "function" ? check(payload) : check.safeParse(payload).success;
}

/**
 * The `authorize` hook of one node link's endpoint. Registry messages after the registration go
 * on with the link's id added (`link_id`), so the registry can fence a replaced link.
 */
export function nodeLinkGate(linkId: string, book: LinkBook): (env: Envelope) => InboundVerdict {
  return (env) => {
    if (env.to.startsWith(TASKS_PREFIX)) {
      const check = TASK_PAYLOADS.get(env.type);
      if (!check) return refuse("INVALID_MESSAGE", "type", `a node may not send ${clip(env.type)} to a task`);
      const taskId = env.to.slice(TASKS_PREFIX.length);
      if (book.tasks.linkOf(taskId) !== linkId) {
        const late = book.tasks.endedOn(taskId) === linkId;
        return { ok: false, code: "ACTOR_STOPPED", reason: "task", message: `task ${clip(taskId)} is not running on this link's node`, quiet: late };
      }
      if (!validPayload(check, env.payload)) return refuse("INVALID_MESSAGE", "payload", `malformed ${env.type} payload`);
      return PASS;
    }
    if (env.to !== REGISTRY_PATH) return refuse("ACTOR_STOPPED", "path", `${clip(env.to)} is not reachable from a node link`);
    const schema = REGISTRY_PAYLOADS.get(env.type);
    if (!schema) return refuse("INVALID_MESSAGE", "type", `a node may not send ${clip(env.type)} to the registry`);
    const parsed = schema.safeParse(env.payload);
    if (!parsed.success) return refuse("INVALID_MESSAGE", "payload", `malformed ${env.type}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    const bound = book.nodes.nodeOf(linkId);
    const nodeId = parsed.data.node_id;
    if (env.type === "register") {
      if (bound !== undefined && bound !== nodeId) return refuse("INVALID_MESSAGE", "node", `this link speaks for node ${bound}, not ${nodeId}`);
      return PASS;
    }
    if (bound !== nodeId) {
      return refuse("INVALID_MESSAGE", "node", bound === undefined ? `${env.type} before a registration on this link` : `this link speaks for node ${bound}, not ${nodeId}`);
    }
    return { ok: true, payload: { ...(env.payload as object), link_id: linkId } };
  };
}

/** Peer text in a message: bounded, so a refusal never echoes a megabyte. */
function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}
