// Helpers for the pools-control tests: JSON requests, a node's pool as the control plane lists
// it, waiting on a node's actor events (not on time), and streams read up to a point.

import type { ActorSystem, InspectEvent } from "../../runtime/index.ts";
import type { Cluster } from "./cluster.ts";
import { openSse, type Frame } from "./sse.ts";

export interface JsonResponse {
  status: number;
  json: any;
}

export async function postJson(url: string, body: unknown): Promise<JsonResponse> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

export async function getJsonStatus(url: string): Promise<JsonResponse> {
  const res = await fetch(url);
  return { status: res.status, json: await res.json() };
}

/** The pool as GET /v2/nodes shows it on one node. */
export async function listedPool(cluster: Cluster, nodeId: string, poolId: string): Promise<any> {
  const body: any = await (await fetch(`${cluster.url}/v2/nodes`)).json();
  return body.nodes.find((n: any) => n.node_id === nodeId)?.pools.find((p: any) => p.pool_id === poolId);
}

/** Resolves at the first event of `system` that matches; subscribe before causing it. */
export function whenEvent(system: ActorSystem, match: (e: InspectEvent) => boolean): Promise<InspectEvent> {
  return new Promise((resolve) => {
    const off = system.events.on((e) => {
      if (match(e)) {
        off();
        resolve(e);
      }
    });
  });
}

/** A node's system, for event waits. */
export function nodeSystem(cluster: Cluster, nodeId: string): ActorSystem {
  const node = cluster.nodes.get(nodeId);
  if (!node) throw new Error(`no node ${nodeId} in the cluster`);
  return node.system;
}

export interface OpenStream {
  /** Frames read so far (metrics frames included). */
  frames: Frame[];
  /** Reads on until the stream ends. */
  rest(): Promise<Frame[]>;
}

/** Opens a task's stream and reads until `until` holds for the frames so far. */
export async function readUntil(url: string, until: (frames: Frame[]) => boolean): Promise<OpenStream> {
  const open = await openSse(url);
  const it = open.frames[Symbol.asyncIterator]();
  const frames: Frame[] = [];
  while (!until(frames)) {
    const next = await it.next();
    if (next.done) break;
    frames.push(next.value);
  }
  return {
    frames,
    async rest() {
      for (;;) {
        const next = await it.next();
        if (next.done) return frames;
        frames.push(next.value);
      }
    },
  };
}

export const events = (frames: Frame[]) => frames.filter((f) => f.event !== "metrics").map((f) => f.event);
