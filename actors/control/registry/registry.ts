// Node registry: membership (register, heartbeat, deregister), staleness, online/offline.
// Each change is pushed to the scheduler as a full view; a lost node is also announced so the
// scheduler can fail the node's in-flight tasks.

import type { ActorFactory, Logger } from "../../../runtime/index.ts";
import type { NodeCapabilities, NodeInfo, NodeStatus, PoolView } from "../../../contract/index.ts";
import { fleetGauges, type ControlMetrics } from "../../../adapters/metrics/index.ts";
import { HeartbeatPayload, RegisterPayload, type AgentRef } from "../../../contract/link.ts";
import type { SchedulerRef } from "../scheduler/protocol.ts";
import type { NodeEntry, RegistryMsg } from "./protocol.ts";
import { linkIdOf, NodeLinks } from "../links/link-book.ts";

export interface RegistryOptions {
  scheduler: SchedulerRef;
  log: Logger;
  metrics: ControlMetrics;
  /** No heartbeat for this long marks a node offline (ORCHESTRATORD_NODE_TIMEOUT_MS). */
  nodeTimeoutMs: number;
  /** Interval nodes are told to heartbeat at. */
  heartbeatMs: number;
  /** How often staleness is checked. */
  sweepMs: number;
  /**
   * Which link speaks for which node, shared with the links' gates (actors/control/links). A
   * link's first successful registration binds it; a link closing unbinds it.
   */
  links?: NodeLinks;
}

interface NodeRecord {
  node_id: string;
  machine_id?: string;
  address?: string;
  version?: string;
  capabilities?: NodeCapabilities;
  status: NodeStatus;
  agent?: AgentRef;
  linkId?: string;
  pools: PoolView[];
  registered_at_ms: number;
  last_heartbeat_ms: number;
}

export function nodeRegistry(options: RegistryOptions): ActorFactory<RegistryMsg> {
  return (ctx) => {
    const nodes = new Map<string, NodeRecord>();
    const { log, metrics, scheduler } = options;
    const fleet = fleetGauges(metrics);
    const links = options.links ?? new NodeLinks();
    /** A node whose record names an open link that speaks for it: only that link may touch it. */
    const liveLink = (n: NodeRecord | undefined) => n?.linkId !== undefined && links.nodeOf(n.linkId) === n.node_id;
    const refusedOnLink = (why: string, fields: Record<string, unknown>) => {
      metrics.linkRejected.inc({ reason: "node" });
      log.warn(`Refused a node link message: ${why}`, fields);
    };
    const now = () => ctx.clock.now();

    const publish = () => {
      const view: NodeEntry[] = [...nodes.values()].map((n) => ({
        node_id: n.node_id,
        online: n.status === "Online",
        agent: n.agent,
        link_id: n.linkId,
        pools: n.pools,
      }));
      metrics.nodesOnline.set(view.filter((n) => n.online).length);
      // pool_ready per node, orchd_pools_available per pool id, GPU gauges; series of what left go.
      fleet.update([...nodes.values()].map((n) => ({ node_id: n.node_id, online: n.status === "Online", pools: n.pools, gpus: n.capabilities?.gpus })));
      scheduler.tell({ type: "nodes", nodes: view });
    };

    /** Logs each pool whose readiness differs from what we knew, as operators want to see. */
    const logReadiness = (nodeId: string, before: PoolView[], after: PoolView[]) => {
      for (const p of after) {
        const was = before.find((b) => b.pool_id === p.pool_id)?.ready ?? false;
        if (p.ready !== was) {
          const state = p.ready ? "ready" : "not ready";
          log.info(`Pool ${p.pool_id} on node ${nodeId} is ${state}`, { node_id: nodeId, pool_id: p.pool_id, ready: p.ready, last_error: p.last_error });
        }
      }
    };

    const lose = (node: NodeRecord, reason: string) => {
      if (node.status === "Offline") return;
      node.status = "Offline";
      metrics.nodeDeregistrations.inc({ outcome: "lost" });
      log.warn(`Node ${node.node_id} is offline: ${reason}`, { node_id: node.node_id, reason });
      publish();
      scheduler.tell({ type: "node-lost", node_id: node.node_id, reason });
    };

    return {
      init() {
        ctx.after(options.sweepMs, { type: "sweep" });
      },
      receive(msg) {
        switch (msg.type) {
          case "register": {
            const parsed = RegisterPayload.safeParse({ ...msg, agent: undefined });
            if (!parsed.success) {
              metrics.nodeRegistrations.inc({ outcome: "error" });
              return { ok: false, heartbeat_ms: options.heartbeatMs, message: `invalid registration: ${parsed.error.issues[0]?.message}` };
            }
            const previous = nodes.get(msg.node_id);
            const linkId = linkIdOf(msg.agent);
            if (!msg.agent && previous?.agent && (previous.status === "Online" || liveLink(previous))) {
              metrics.nodeRegistrations.inc({ outcome: "error" });
              return { ok: false, heartbeat_ms: options.heartbeatMs, message: `node ${msg.node_id} is connected over the node link; a REST registration may not replace it` };
            }
            if (linkId !== undefined) {
              const bound = links.nodeOf(linkId);
              if (bound !== undefined && bound !== msg.node_id) {
                metrics.nodeRegistrations.inc({ outcome: "error" });
                refusedOnLink(`link registered as ${bound} claimed ${msg.node_id}`, { node_id: bound, claimed_node_id: msg.node_id });
                return { ok: false, heartbeat_ms: options.heartbeatMs, message: `this link speaks for node ${bound}, not ${msg.node_id}` };
              }
              // A live node keeps its id: a second link may take it over only once the first closed
              // or the node went silent past the node timeout (then the old link is fenced off).
              if (previous && previous.linkId !== linkId && previous.status === "Online" && liveLink(previous)) {
                metrics.nodeRegistrations.inc({ outcome: "error" });
                refusedOnLink(`node ${msg.node_id} is live on another link`, { node_id: msg.node_id });
                return { ok: false, heartbeat_ms: options.heartbeatMs, message: `node ${msg.node_id} is connected over another live link` };
              }
              // A replaced link stays bound to the id (it may claim no other), but the record now
              // names the new link, so the old one's heartbeats and deregistrations are refused.
              links.bind(linkId, msg.node_id);
            }
            if (previous && previous.status === "Online" && previous.linkId !== linkId) {
              // The same node id over a new link: the old link is gone (e.g. a reconnect).
              lose(previous, "re-registered over a new link");
            }
            const t = now();
            nodes.set(msg.node_id, {
              node_id: msg.node_id,
              machine_id: parsed.data.machine_id,
              address: msg.address,
              version: msg.version,
              capabilities: parsed.data.capabilities,
              status: "Online",
              agent: msg.agent,
              linkId,
              pools: parsed.data.pools,
              registered_at_ms: t,
              last_heartbeat_ms: t,
            });
            logReadiness(msg.node_id, [], parsed.data.pools);
            metrics.nodeRegistrations.inc({ outcome: "success" });
            log.info(`Node ${msg.node_id} registered with ${msg.pools.length} pool(s)`, {
              node_id: msg.node_id,
              pools: msg.pools.map((p) => p.pool_id),
            });
            publish();
            return { ok: true, heartbeat_ms: options.heartbeatMs, message: "Registered successfully" };
          }
          case "heartbeat": {
            const node = nodes.get(msg.node_id);
            const parsed = HeartbeatPayload.safeParse(msg);
            if (!node || !parsed.success) {
              // An unregistered id gets no series of its own: label values come only from registered nodes.
              metrics.nodeHeartbeats.inc({ node_id: node ? msg.node_id : "", outcome: "error" });
              return { ok: false, next_heartbeat_ms: options.heartbeatMs };
            }
            if (msg.link_id !== undefined ? node.linkId !== msg.link_id : node.linkId !== undefined) {
              // Over a link: only the link the node registered over. Over REST: never a linked
              // node (its slots and readiness come from its own link).
              if (msg.link_id !== undefined) refusedOnLink(`heartbeat for ${msg.node_id} from a link that does not speak for it`, { node_id: msg.node_id });
              metrics.nodeHeartbeats.inc({ node_id: msg.node_id, outcome: "error" });
              return { ok: false, next_heartbeat_ms: options.heartbeatMs, linked: msg.link_id === undefined };
            }
            node.last_heartbeat_ms = now();
            logReadiness(node.node_id, node.pools, parsed.data.pools);
            node.pools = parsed.data.pools;
            if (parsed.data.gpus && node.capabilities) node.capabilities = { ...node.capabilities, gpus: parsed.data.gpus };
            if (node.status !== "Online") {
              // A heartbeat from a node we marked offline: it is back (same link still open).
              node.status = "Online";
              log.info(`Node ${node.node_id} is online again`, { node_id: node.node_id });
            }
            metrics.nodeHeartbeats.inc({ node_id: msg.node_id, outcome: "success" });
            publish();
            return { ok: true, next_heartbeat_ms: options.heartbeatMs };
          }
          case "deregister": {
            const node = nodes.get(msg.node_id);
            if (!node) return false;
            if (msg.link_id !== undefined && node.linkId !== msg.link_id) {
              refusedOnLink(`deregistration of ${msg.node_id} from a link that does not speak for it`, { node_id: msg.node_id });
              return false;
            }
            // Over REST, a node a live link speaks for stays: the link deregisters it, or closes.
            if (msg.link_id === undefined && liveLink(node)) return "linked";
            nodes.delete(msg.node_id);
            for (const outcome of ["success", "error"]) metrics.nodeHeartbeats.remove({ node_id: msg.node_id, outcome });
            metrics.nodeDeregistrations.inc({ outcome: "success" });
            log.info(`Node ${msg.node_id} deregistered`, { node_id: msg.node_id });
            publish();
            scheduler.tell({ type: "node-lost", node_id: msg.node_id, reason: "deregistered" });
            return true;
          }
          case "link-down": {
            links.unbind(msg.link_id);
            for (const node of nodes.values()) {
              if (node.linkId === msg.link_id) lose(node, `link closed (${msg.reason})`);
            }
            return;
          }
          case "list":
            return [...nodes.values()].map(
              (n): NodeInfo => ({
                node_id: n.node_id,
                machine_id: n.machine_id,
                address: n.address,
                version: n.version,
                capabilities: n.capabilities,
                linked: n.agent !== undefined,
                status: n.status,
                registered_at_ms: n.registered_at_ms,
                last_heartbeat_ms: n.last_heartbeat_ms,
                pools: n.pools,
              }),
            );
          case "pool-agents":
            return [...nodes.values()]
              .flatMap((n) => {
                const pool = n.pools.find((p) => p.pool_id === msg.pool_id);
                // Nodes registered over REST have no link to control them through.
                return pool && n.agent ? [{ node_id: n.node_id, online: n.status === "Online", agent: n.agent, pool }] : [];
              })
              .sort((a, b) => (a.node_id < b.node_id ? -1 : a.node_id > b.node_id ? 1 : 0));
          case "model-holders":
            return [...nodes.values()].flatMap((n) =>
              n.agent ? n.pools.filter((p) => p.models_available.includes(msg.model)).map((pool) => ({ node_id: n.node_id, online: n.status === "Online", agent: n.agent!, pool })) : [],
            );
          case "sweep": {
            const t = now();
            for (const node of nodes.values()) {
              if (node.status === "Online" && t - node.last_heartbeat_ms > options.nodeTimeoutMs) {
                lose(node, `no heartbeat for ${t - node.last_heartbeat_ms} ms`);
              }
            }
            ctx.after(options.sweepMs, { type: "sweep" });
            return;
          }
        }
      },
    };
  };
}
