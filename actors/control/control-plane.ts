// Assembles the control plane's actor tree over its state store (state.ts) and the port the HTTP
// surface uses.
//
//   control (one_for_one)
//   ├─ sessions    TTL, turns, budgets, affinity (written behind to the store)
//   ├─ catalog     model catalog (in the store), lifecycle, verification
//   ├─ artifacts   the API's content-addressed documents (task actors store transcripts themselves)
//   ├─ tasks       supervisor of one temporary task actor per job
//   ├─ scheduler   admission queue, placement, leases
//   └─ registry    node membership

import { join } from "node:path";
import {
  ActorStoppedError,
  ActorSystem,
  RuntimeError,
  supervisor,
  type Clock,
  type Logger,
  type SupervisorRef,
} from "../../runtime/index.ts";
import { type ArtifactsPort, type CatalogPort, type ControlPort, type EmbeddingsPort, type NodesPort, type PoolsPort, retriableError, type SessionsPort, type StreamEvent, type StreamSink, type TaskSpec, toPoolView, type TrustPolicy } from "../../contract/index.ts";
import { createPoolsPort } from "./pools/index.ts";
import { createEmbeddingsPort } from "./embeddings/index.ts";
import { artifactsActor, createArtifactsPort, type ArtifactsRef } from "./artifacts/index.ts";
import { catalogActor, createCatalogPort, type CatalogMetrics, type CatalogRef } from "./catalog/index.ts";
import { createControlMetrics, type ControlMetrics } from "../../adapters/metrics/index.ts";
import { RemoteEndpoint, type Link } from "../../adapters/transport/index.ts";
import type { StateStore } from "../../adapters/storage/state-store.ts";
import { REGISTRY_PATH } from "../../contract/link.ts";
import type { RegistryRef } from "./registry/protocol.ts";
import { nodeRegistry } from "./registry/registry.ts";
import { createLinkBook } from "./links/link-book.ts";
import { NODE_LINK_EXPORTS, nodeLinkGate } from "./links/node-gate.ts";
import type { SchedulerRef } from "./scheduler/protocol.ts";
import type { RateLimits } from "./scheduler/admission.ts";
import { scheduler, type AdmissionPolicy, type SessionGate } from "./scheduler/scheduler.ts";
import { defaultBudgets, sessionsActor, sessionsPort, type SessionsOptions, type SessionsRef } from "./sessions/index.ts";
import type { TaskHooks, TaskRef, TaskTimeouts } from "./task/protocol.ts";
import { capabilities } from "./capabilities.ts";
import { taskActor } from "./task/task.ts";
import { SUBSCRIBER_DEFAULTS, SubscriberLimits, type SubscriberLimitsOptions } from "./task/subscribers.ts";
import { MetricsTicker } from "./task/ticker.ts";
import { openControlState, type StateOptions } from "./state.ts";
import { unfoldTranscript, type TranscriptEntry } from "./task/transcript.ts";

export interface ControlPlaneOptions {
  log: Logger;
  clock?: Clock;
  random?: () => number;
  /** Admission queue capacity (ORCHD_ADMISSION_CAPACITY). */
  capacity?: number;
  /** ORCHESTRATORD_NODE_TIMEOUT_MS. */
  nodeTimeoutMs?: number;
  /** Heartbeat interval nodes are told to use. */
  heartbeatMs?: number;
  /**
   * How long an ended task's actor stays after its transcript is committed (default 0). Late
   * subscribers and cancels after that are answered from the stored transcript, so this only
   * trades memory for a store read: at thousands of tasks per second, 60 s of ended actors held
   * gigabytes.
   */
  taskRetentionMs?: number;
  /** ORCHD_ADMISSION_POLICY. */
  policy?: AdmissionPolicy;
  rateLimits?: RateLimits;
  timeouts?: TaskTimeouts;
  /** Cadence of SSE `metrics` frames while a task streams (0 = off). */
  metricsIntervalMs?: number;
  sessions?: Omit<SessionsOptions, "log" | "store">;
  /** The state directory (ORCHD_STATE_DIR); absent: an ephemeral store removed at shutdown (tests). */
  stateDir?: string;
  /** The old catalog index directory (ORCHD_CATALOG_ROOT): imported into the store on first start. */
  catalogRoot?: string;
  /** Directories catalog verify may hash files under (ORCHD_CATALOG_ROOTS); default: `<stateDir>/models`. */
  catalogRoots?: string[];
  /** The old artifact directory (ORCH_ARTIFACTS_FS_ROOT): imported into the store on first start. */
  artifactsRoot?: string;
  retention?: StateOptions["retention"];
  storeQueue?: StateOptions["queue"];
  /** Open stream subscribers per task and in all (ORCHD_MAX_SUBSCRIBERS_PER_TASK, ORCHD_MAX_SUBSCRIBERS). */
  subscribers?: Partial<SubscriberLimitsOptions>;
  /** Late-subscriber window and chunk size of task streams. */
  stream?: { window?: number; chunkEvents?: number };
  trustPolicy?: TrustPolicy;
}

export interface ControlPlane {
  system: ActorSystem;
  port: ControlPort;
  metrics: ControlMetrics;
  sessions: SessionsPort;
  catalog: CatalogPort;
  artifacts: ArtifactsPort;
  pools: PoolsPort;
  /** POST /v1/embeddings: a ready embedding pool of the model, asked over its node's link. */
  embeddings: EmbeddingsPort;
  /** The state store (catalog, sessions, artifacts, transcripts, stream chunks). */
  store: StateStore;
  /** The REST mirror of the node link (register, heartbeat, deregister, list). */
  nodes: NodesPort;
  /** Binds a node link (WebSocket or in-memory) to this control plane. */
  acceptLink(link: Link): RemoteEndpoint;
  shutdown(): Promise<void>;
}

export const CONTROL_DEFAULTS = {
  capacity: 256,
  nodeTimeoutMs: 30_000,
  heartbeatMs: 10_000,
  // An ended task stops once its transcript is committed; later subscribers read the transcript.
  taskRetentionMs: 0,
};

/** Without a state directory (tests), the working directory, against which relative paths resolve. */
function catalogRoots(options: ControlPlaneOptions): string[] | undefined {
  return options.catalogRoots ?? (options.stateDir === undefined ? undefined : [join(options.stateDir, "models")]);
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const system = new ActorSystem({ name: "control", clock: options.clock, random: options.random });
  const metrics = createControlMetrics();
  const log = options.log;
  system.events.on((e) => {
    if (e.type === "dead-letter") metrics.deadLetters.inc({ reason: e.reason });
    if (e.type === "failed") log.error(`Actor ${e.path} failed: ${e.error}`, { actor: e.path });
    if (e.type === "message-failed") log.error(`Actor ${e.path} failed on a ${e.msg} message and goes on: ${e.error}`, { actor: e.path });
  });
  const state = await openControlState(
    { stateDir: options.stateDir, legacy: { catalogRoot: options.catalogRoot, artifactsRoot: options.artifactsRoot }, retention: options.retention, queue: options.storeQueue },
    { log, metrics, clock: system.clock },
  );
  const store = state.store;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? CONTROL_DEFAULTS.nodeTimeoutMs;
  const tasks = system.ref("control/tasks") as SupervisorRef;
  const schedulerRef: SchedulerRef = system.ref("control/scheduler");
  const registry: RegistryRef = system.ref(REGISTRY_PATH);
  const sessionsRef: SessionsRef = system.ref("control/sessions");
  const budgetDefaults = defaultBudgets(options.sessions);
  const catalogRef: CatalogRef = system.ref("control/catalog");
  /** Retired models, as the catalog tells its lifecycle changes (and its entries when it loads). */
  const retiredModels = new Set<string>();
  const onLifecycle = (c: { model_id: string; state: string }) => void (c.state === "Retired" ? retiredModels.add(c.model_id) : retiredModels.delete(c.model_id));
  const artifactsRef: ArtifactsRef = system.ref("control/artifacts");
  /** Which link speaks for which node, and which link each running task was dispatched over. */
  const linkBook = createLinkBook();
  const catalogMetrics: CatalogMetrics = {
    verification: (result, reason) => metrics.catalogVerifications.inc({ result, reason, engine: "" }),
    modelState: (model_id, state) => {
      for (const s of ["Active", "Retired"] as const) metrics.modelState.set({ model_id, state: s }, s === state ? 1 : 0);
    },
    modelRemoved: (model_id) => {
      for (const s of ["Active", "Retired"]) metrics.modelState.remove({ model_id, state: s });
    },
  };

  const gate: SessionGate = {
    begin: (session_id, task_id, reserve_tokens) => sessionsRef.ask({ type: "begin", session_id, task_id, reserve_tokens }),
    abort: (session_id, task_id) => void sessionsRef.tell({ type: "abort", session_id, task_id }),
    affinity: (session_id) => sessionsRef.ask({ type: "affinity", session_id }),
    defaults: () => budgetDefaults,
  };
  const queueDepth = async () => (await schedulerRef.ask({ type: "status" })).queue_depth;
  const ticker = new MetricsTicker(system.clock, options.metricsIntervalMs ?? 1000, queueDepth);
  const hooks: TaskHooks = {
    queueDepth,
    ticker,
    budgets: async (session_id) => (session_id ? sessionsRef.ask({ type: "budgets", session_id }) : budgetDefaults),
    warm: async (session_id, at) => (await sessionsRef.ask({ type: "warm", session_id, ...at }))?.kv_warmth ?? false,
    spend: (session_id, task_id, tokens_out, decode_ms) => void sessionsRef.tell({ type: "spend", session_id, task_id, tokens_out, decode_ms }),
    // Straight to the store, batched there: no timeout, no drop; a store that falls behind makes admission refuse.
    stream: state.streams,
  };

  const taskFactory = (spec: TaskSpec, admission: Parameters<typeof taskActor>[2]) =>
    taskActor(
      {
        scheduler: schedulerRef,
        log,
        metrics,
        hooks,
        retentionMs: options.taskRetentionMs ?? CONTROL_DEFAULTS.taskRetentionMs,
        timeouts: options.timeouts,
        metricsIntervalMs: options.metricsIntervalMs,
        stream: options.stream,
      },
      spec,
      admission,
    );

  const spawned = system.spawn(
    "control",
    supervisor({
      strategy: "one_for_one",
      intensity: { maxRestarts: 5, periodMs: 10_000 },
      // A throw on one message (bad input, a bug one request hits) fails that request alone: the
      // children resume with their state, so no request can build a crash loop that exits the process.
      children: [
        { id: "sessions", onMessageFailure: "resume", start: sessionsActor({ log, ...options.sessions, store }), mailbox: { capacity: 10_000 } },
        { id: "catalog", onMessageFailure: "resume", start: catalogActor({ store, log, metrics: catalogMetrics, trustPolicy: options.trustPolicy, onLifecycle, roots: catalogRoots(options) }), mailbox: { capacity: 1000 } },
        { id: "artifacts", onMessageFailure: "resume", start: artifactsActor({ store, log }), mailbox: { capacity: 10_000 } },
        { id: "tasks", start: supervisor({ strategy: "one_for_one" }), mailbox: { capacity: 10_000 } },
        {
          id: "scheduler",
          onMessageFailure: "resume",
          start: scheduler({
            tasks,
            taskFactory,
            log,
            metrics,
            capacity: options.capacity ?? CONTROL_DEFAULTS.capacity,
            policy: options.policy,
            rateLimits: options.rateLimits,
            sessions: gate,
            modelRetired: (model_id) => retiredModels.has(model_id),
            links: linkBook.tasks,
          }),
          mailbox: { capacity: 10_000 },
        },
        {
          id: "registry",
          onMessageFailure: "resume",
          start: nodeRegistry({
            scheduler: schedulerRef,
            log,
            metrics,
            nodeTimeoutMs,
            // Nodes must beat well inside the timeout, or a short timeout makes them flap.
            heartbeatMs: options.heartbeatMs ?? Math.max(100, Math.min(CONTROL_DEFAULTS.heartbeatMs, Math.floor(nodeTimeoutMs / 3))),
            sweepMs: Math.max(50, Math.min(10_000, Math.floor(nodeTimeoutMs / 3))),
            links: linkBook.nodes,
          }),
          mailbox: { capacity: 10_000 },
        },
      ],
    }),
  );
  try {
    await spawned;
  } catch (e) {
    ticker.stop();
    await system.shutdown();
    await state.close();
    throw e;
  }
  const shutdown = async () => {
    ticker.stop();
    await system.shutdown();
    await state.close();
  };

  const taskRef = (id: string): TaskRef => system.ref(`control/tasks/${id}`);
  const stopped = (e: unknown) => e instanceof ActorStoppedError || (e instanceof RuntimeError && e.code === "ACTOR_STOPPED");

  /** The stream of an ended task from its stored transcript; undefined when there is none. */
  const endedStream = async (taskId: string): Promise<StreamEvent[] | undefined> => {
    const [ref] = await store.artifacts.list({ tags: [`task:${taskId}`], kind: "trace", limit: 1 });
    const doc = ref && (await store.artifacts.get(ref.id));
    const entries = (doc?.content as { job_id?: unknown; events?: unknown } | undefined)?.events;
    if (!doc || doc.content.job_id !== taskId || !Array.isArray(entries)) return undefined;
    return unfoldTranscript(entries as TranscriptEntry[]);
  };

  const subscribers = new SubscriberLimits({
    total: options.subscribers?.total ?? SUBSCRIBER_DEFAULTS.total,
    perTask: options.subscribers?.perTask ?? SUBSCRIBER_DEFAULTS.perTask,
  });
  const port: ControlPort = {
    async submit(request, meta) {
      // A store that cannot keep up refuses new work instead of dropping transcripts later.
      const behind = state.backlog(request.engine);
      if (behind) return { ok: false, error: behind };
      const spec: TaskSpec = { ...request, task_id: request.task_id ?? crypto.randomUUID() };
      return schedulerRef.ask({ type: "admit", request: spec, correlation_id: meta.correlationId, identity: meta.identity, trace: meta.trace });
    },
    async subscribe(taskId: string, sink: StreamSink) {
      const ref = taskRef(taskId);
      const slot = subscribers.acquire(taskId, sink);
      if (!slot.ok) {
        const what = slot.scope === "task" ? `task ${taskId} already has ${slot.limit} subscribers` : `${slot.limit} streams are open`;
        return { refused: retriableError("ADMISSION_REJECT", `subscriber limit: ${what}`, { policy_label: "subscriber-limit" }) };
      }
      let budgets;
      try {
        ({ budgets } = await ref.ask({ type: "subscribe", sink: slot.sink }));
      } catch (e) {
        slot.release();
        if (!stopped(e)) throw e;
        // An ended task: its whole stream, from its transcript (kept for the store's retention).
        const events = await endedStream(taskId);
        if (!events) return undefined;
        for (const event of events) sink.push(event);
        return { unsubscribe: () => {} };
      }
      return {
        budgets,
        unsubscribe: (opts = {}) => {
          slot.release();
          ref.tell({ type: "unsubscribe", sink: slot.sink, cancel_if_last: opts.cancelIfLast });
        },
      };
    },
    async cancel(taskId, reason) {
      try {
        return await taskRef(taskId).ask({ type: "cancel", reason });
      } catch (e) {
        if (!stopped(e)) throw e;
        // Canceling an ended task changes nothing and is not an error, as while it was alive.
        return (await endedStream(taskId)) ? "canceled" : "unknown";
      }
    },
    nodes: () => registry.ask({ type: "list" }),
    capabilities: async () => capabilities(await registry.ask({ type: "list" })),
    async ready() {
      if (!system.isAlive("control")) return { ready: false, nodes_online: 0 };
      const nodes = await registry.ask({ type: "list" }).catch(() => []);
      return { ready: true, nodes_online: nodes.filter((n) => n.status === "Online").length };
    },
  };

  return {
    system,
    port,
    metrics,
    store,
    sessions: sessionsPort(sessionsRef),
    catalog: createCatalogPort({ catalog: catalogRef, nodes: () => registry.ask({ type: "list" }) }),
    artifacts: createArtifactsPort(artifactsRef),
    nodes: {
      list: () => registry.ask({ type: "list" }),
      async register(req) {
        const reply = await registry.ask({ type: "register", ...req, pools: req.pools.map(toPoolView) });
        return { ok: reply.ok, message: reply.message };
      },
      async heartbeat(node_id, req) {
        const reply = await registry.ask({ type: "heartbeat", node_id, pools: req.pools.map(toPoolView), gpus: req.gpus });
        return reply.ok ? { next_heartbeat_ms: reply.next_heartbeat_ms } : reply.linked ? "linked" : undefined;
      },
      deregister: (node_id) => registry.ask({ type: "deregister", node_id }),
    },
    pools: createPoolsPort(registry, {
      clock: system.clock,
      log,
      queueDepth: () => schedulerRef.ask({ type: "status" }).then((s) => s.queue_depth),
      drainEvents: metrics.drainEvents,
      healthChecked: (pool_id, outcome, ms) => {
        metrics.poolHealthChecks.inc({ pool_id, outcome });
        if (ms !== undefined) metrics.poolHealthDuration.observe({ pool_id }, ms);
      },
    }),
    embeddings: createEmbeddingsPort(registry, { clock: system.clock, log }),
    acceptLink(link) {
      // Nodes are untrusted: each envelope passes the link's gate (links/node-gate.ts), and a
      // node may not hand the control plane refs into its own system.
      const endpoint = new RemoteEndpoint(system, link, {
        exports: NODE_LINK_EXPORTS,
        authorize: nodeLinkGate(link.id, linkBook),
        peerRefs: false,
        onRefused: (reason) => metrics.linkRejected.inc({ reason }),
      });
      endpoint.onClose((reason) => registry.tell({ type: "link-down", link_id: endpoint.id, reason }));
      return endpoint;
    },
    shutdown,
  };
}
