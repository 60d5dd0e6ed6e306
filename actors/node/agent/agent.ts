// Node agent: the node's side of the link. Registers over every new link (so a restarted control
// plane is rejoined), heartbeats pool snapshots, heartbeats at once when a pool changes, routes
// dispatch, cancel and pools control (health, drain, reload, preload) to pools, and deregisters when the
// node stops. Registration carries the node's inventory (GPUs, CPU cores, RAM); heartbeats carry
// the gpu-monitor's latest sample.

import { describe, type ActorFactory, type Logger } from "../../../runtime/index.ts";
import { EmbedPayload, type EmbedMsg, type EmbedReply, type GpuInfo, invalidParams, type NodeCapabilities, notFound, poolUnavailable, type PoolView } from "../../../contract/index.ts";
import type { RemoteEndpoint } from "../../../adapters/transport/index.ts";
import {
  REGISTRY_PATH,
  type DeregisterMsg,
  type HeartbeatMsg,
  type PoolDrainReply,
  type PoolPreloadReply,
  type PoolPurgeReply,
  type PoolReloadReply,
  type RegisterMsg,
  type RegisterReply,
} from "../../../contract/link.ts";
import type { PoolRef } from "../pool/protocol.ts";
import { checkPoolControl, poolOpAnswer, poolRefusal, silentPoolHealth, type PoolControlMsg } from "./pool-control.ts";
import type { AgentInternalMsg } from "./protocol.ts";
import { checkedTraceFields } from "../../../contract/trace.ts";
import { taskFields } from "../replica/task-trace.ts";

export interface AgentOptions {
  nodeId: string;
  version: string;
  address?: string;
  pools: Map<string, PoolRef>;
  log: Logger;
  /** Used until the control plane says otherwise in its register reply. */
  heartbeatMs: number;
  /**
   * The node's inventory, read at each registration (so a re-registration after a control-plane
   * restart reports today's). The latest GPU sample, once there is one, replaces its `gpus`.
   */
  capabilities?: () => NodeCapabilities;
}

function placementView(p: PoolView): string {
  const { slots_free: _free, kv_cache_usage_ratio: _kv, ...rest } = p;
  return JSON.stringify(rest);
}

type RegistryLink = {
  endpoint: RemoteEndpoint;
  registered: boolean;
};

export function nodeAgent(options: AgentOptions): ActorFactory<AgentInternalMsg> {
  return (ctx) => {
    const { log, nodeId } = options;
    const snapshots = new Map<string, PoolView>();
    let link: RegistryLink | undefined;
    let heartbeatMs = options.heartbeatMs;
    let leaving = false;
    let gpus: GpuInfo[] | undefined;
    let gpuError: string | undefined;

    const registry = () => link?.endpoint.remoteRef<RegisterMsg | HeartbeatMsg | DeregisterMsg, { register: RegisterReply }>(REGISTRY_PATH);
    const pools = () => [...snapshots.values()];
    const capabilities = (): NodeCapabilities | undefined => {
      const base = options.capabilities?.();
      if (!gpus) return base;
      return { ...(base ?? {}), gpus };
    };

    const heartbeat = () => {
      if (!link?.registered) return;
      registry()?.tell({ type: "heartbeat", node_id: nodeId, pools: pools(), ...(gpus ? { gpus } : {}) });
    };

    const poolStatus = (snapshot: PoolView) => {
      const before = snapshots.get(snapshot.pool_id);
      snapshots.set(snapshot.pool_id, snapshot);
      // Heartbeat at once only when placement cares (readiness, draining, models, capacity...).
      // Free slots change with every dispatch and release, and the control plane counts its own
      // leases, so those ride on the next periodic heartbeat.
      if (!before || placementView(before) !== placementView(snapshot)) heartbeat();
    };

    /** Health answers at once; drain, reload and preload come back through `pool-op-done`. */
    const poolControl = (raw: PoolControlMsg) => {
      const checked = checkPoolControl(raw, nodeId);
      if (!checked.ok) return checked.refusal;
      const msg = checked.msg;
      const pool = options.pools.get(msg.pool_id);
      if (!pool) return poolRefusal(nodeId, msg.pool_id, "not_found", notFound(`pool ${msg.pool_id} is not on node ${nodeId}`));
      const reply = ctx.takeReply<unknown>();
      // The control plane's deadline travels on: a reload may take as long as it is willing to wait.
      const deadline = reply?.deadline ?? ctx.clock.now() + 5000;
      switch (msg.type) {
        case "pool-health":
          pool.ask({ type: "health" }, { deadline }).then(
            (health) => reply?.resolve({ ok: true, ...health }),
            (error) => reply?.resolve(silentPoolHealth(nodeId, msg.pool_id, snapshots.get(msg.pool_id), error)),
          );
          return;
        case "pool-drain":
          ctx.pipeToSelf(pool.ask({ type: "drain", deadline_ms: msg.deadline_ms }, { deadline }), (o) => ({
            type: "pool-op-done",
            reply,
            ...poolOpAnswer<PoolDrainReply>(nodeId, msg.pool_id, o),
          }));
          return;
        case "pool-reload":
          ctx.pipeToSelf(pool.ask({ type: "reload", model: msg.new_model_ref, drain_deadline_ms: msg.drain_deadline_ms }, { deadline }), (o) => ({
            type: "pool-op-done",
            reply,
            ...poolOpAnswer<PoolReloadReply>(nodeId, msg.pool_id, o),
          }));
          return;
        case "pool-preload":
          ctx.pipeToSelf(pool.ask({ type: "preload" }, { deadline }), (o) => ({
            type: "pool-op-done",
            reply,
            ...poolOpAnswer<PoolPreloadReply>(nodeId, msg.pool_id, o),
          }));
          return;
        case "pool-purge":
          ctx.pipeToSelf(pool.ask({ type: "purge" }, { deadline }), (o) => ({ type: "pool-op-done", reply, ...poolOpAnswer<PoolPurgeReply>(nodeId, msg.pool_id, o) }));
          return;
      }
    };

    /** An embedding batch for a pool (checked here, where it crosses the link); answered with EmbedReply. */
    const embed = (raw: EmbedMsg) => {
      const parsed = EmbedPayload.safeParse(raw);
      if (!parsed.success) return { ok: false, error: invalidParams(`embed: ${parsed.error.issues[0]?.path.join(".") || "payload"}: ${parsed.error.issues[0]?.message ?? "invalid"}`) };
      const msg = parsed.data;
      const pool = options.pools.get(msg.pool_id);
      if (!pool) return { ok: false, error: poolUnavailable(`pool ${msg.pool_id} is not on node ${nodeId}`, { pool_id: msg.pool_id }) };
      const reply = ctx.takeReply<EmbedReply>();
      pool.ask({ type: "embed", model: msg.model, inputs: msg.inputs }, { deadline: reply?.deadline ?? ctx.clock.now() + 60_000 }).then(
        (r) => reply?.resolve(r),
        (error) => reply?.resolve({ ok: false, error: poolUnavailable(`pool ${msg.pool_id} on node ${nodeId} did not answer: ${describe(error)}`, { pool_id: msg.pool_id }) }),
      );
    };

    return {
      receive(msg) {
        switch (msg.type) {
          case "link-up": {
            if (leaving) return void msg.endpoint.close("node is leaving");
            link = { endpoint: msg.endpoint, registered: false };
            const linkId = msg.endpoint.id;
            log.info("Connected to the control plane; registering", { node_id: nodeId });
            ctx.pipeToSelf(
              registry()!.ask(
                {
                  type: "register",
                  node_id: nodeId,
                  version: options.version,
                  address: options.address,
                  pools: pools(),
                  capabilities: capabilities(),
                  agent: ctx.self,
                },
                { timeoutMs: 5000 },
              ),
              (o) => (o.ok ? { type: "registered", link_id: linkId, reply: o.value } : { type: "registered", link_id: linkId, error: describe(o.error) }),
            );
            return;
          }
          case "registered": {
            if (!link || link.endpoint.id !== msg.link_id || leaving) return;
            if (!msg.reply?.ok) {
              log.error("Registration refused; dropping the link to retry", { node_id: nodeId, reason: msg.error ?? msg.reply?.message });
              link.endpoint.close("registration failed");
              return;
            }
            link.registered = true;
            // The control plane's interval, unless this node was told to beat more often.
            heartbeatMs = Math.min(options.heartbeatMs, msg.reply.heartbeat_ms || options.heartbeatMs);
            log.info("Registered with the control plane", { node_id: nodeId, heartbeat_ms: heartbeatMs });
            // Pools may have changed between the register snapshot and now.
            heartbeat();
            ctx.after(heartbeatMs, { type: "heartbeat-tick", link_id: msg.link_id });
            return;
          }
          case "link-down":
            link = undefined;
            return;
          case "heartbeat-tick":
            if (!link || link.endpoint.id !== msg.link_id) return;
            heartbeat();
            ctx.after(heartbeatMs, { type: "heartbeat-tick", link_id: msg.link_id });
            return;
          case "pool-status":
            poolStatus(msg.snapshot);
            return;
          // GPU figures change all the time and placement reads pools' VRAM, not these: they
          // ride on the periodic heartbeat rather than triggering one.
          case "gpu-sample":
            gpus = msg.gpus;
            // The driver answers again: pools held down by the fault may serve.
            if (gpuError !== undefined) for (const pool of options.pools.values()) pool.tell({ type: "gpu-fault" });
            gpuError = undefined;
            return;
          case "gpu-error":
            // A driver error: the GPU pools go unready with the reason until it clears.
            if (gpuError !== msg.message) for (const pool of options.pools.values()) pool.tell({ type: "gpu-fault", message: msg.message });
            gpuError = msg.message;
            return;
          case "pool-health":
          case "pool-drain":
          case "pool-reload":
          case "pool-preload":
          case "pool-purge":
            return poolControl(msg);
          case "pool-op-done":
            // The control plane hears the new snapshot (draining, models) before the answer, so
            // its view is current by the time it answers its client.
            if (msg.snapshot) poolStatus(msg.snapshot);
            msg.reply?.resolve(msg.result);
            return;
          case "dispatch": {
            const pool = options.pools.get(msg.pool_id);
            const request = checkedTraceFields(msg.request);
            const fields = { ...taskFields(msg.task_id, request), pool_id: msg.pool_id };
            log.debug("Dispatch received", fields);
            if (!pool || !pool.tell({ type: "dispatch", task_id: msg.task_id, request, sink: msg.sink }).ok) {
              log.warn(`Refused a dispatch: pool ${msg.pool_id} is not available`, fields);
              msg.sink.tell({
                type: "engine-error",
                error: poolUnavailable(`pool ${msg.pool_id} is not available on node ${nodeId}`, { pool_id: msg.pool_id }),
              });
            }
            return;
          }
          case "cancel":
            options.pools.get(msg.pool_id)?.tell({ type: "cancel", task_id: msg.task_id });
            return;
          case "embed":
            return embed(msg);
          case "status":
            return {
              node_id: nodeId,
              connected: link !== undefined,
              registered: link?.registered ?? false,
              pools: pools(),
              ...(gpus ? { gpus } : {}),
              ...(gpuError !== undefined ? { gpu_error: gpuError } : {}),
            };
          case "leave": {
            // Also while the register reply is still on its way: the link delivers in order,
            // so the control plane sees the registration before the departure.
            if (!link) return false;
            leaving = true;
            link.registered = false;
            const reply = ctx.takeReply<boolean>()!;
            const ref = link.endpoint.remoteRef<DeregisterMsg, { deregister: boolean }>(REGISTRY_PATH);
            ref.ask({ type: "deregister", node_id: nodeId }, { deadline: reply.deadline }).then(
              (ok) => reply.resolve(ok),
              () => reply.resolve(false),
            );
            return;
          }
        }
      },
      terminate() {
        // Best effort when stopped without `leave` (e.g. a supervisor restart).
        if (link?.registered) registry()?.tell({ type: "deregister", node_id: nodeId });
      },
    };
  };
}
