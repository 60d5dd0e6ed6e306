// Control-plane metrics: every upstream series, kept as a stable API, and the control plane's own
// series, with `node_id` on pool and replica series (docs/contract.md#metrics). The SERIES table is the
// single source for names, types, labels and buckets; the scrape checks below hold a registry's
// text to it. One registry per control plane, never prom-client's global one, so clusters in one
// test process stay apart.

import { Counter, Gauge, Histogram, Registry } from "prom-client";

export type SeriesType = "counter" | "gauge" | "histogram";

export interface SeriesSpec {
  name: string;
  type: SeriesType;
  help: string;
  /** Exactly the labels every sample carries (a histogram's `le` comes on top). */
  labels: readonly string[];
  buckets?: readonly number[];
  /**
   * A histogram named in base units (`_seconds`) whose call sites measure milliseconds: the
   * adapter divides each observation by 1000. Our own duration series use seconds, as Prometheus
   * names them; upstream's `_ms` names stay as they are (a stable API).
   */
  observedInMs?: boolean;
}

// Recommended buckets, fine around the usual latency targets, not the upstream implementation's
// coarse default.
export const FIRST_TOKEN_BUCKETS = [50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000] as const;
export const DECODE_BUCKETS = [250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000] as const;
// Control → node dispatch is a link round trip: milliseconds, with a tail for a busy node.
export const DISPATCH_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500] as const;
// Mean gap between streamed tokens, in seconds: a few ms (fast GPU) to hundreds (CPU, busy pool).
export const INTER_TOKEN_BUCKETS = [0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1] as const;
// Admission to the last token, in seconds: seconds for short answers, minutes for long ones.
export const END_TO_END_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300] as const;
// A pool health check is a link round trip plus the node's answer from its replicas' state.
export const HEALTH_CHECK_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000] as const;

// Closed enums. Series labelled only with these (plus engine="" for "no engine named") are
// initialised to 0 at start so rates exist before the first event.
export const REJECT_REASONS = ["ADMISSION_REJECT", "QUEUE_FULL_DROP_LRU", "INVALID_PARAMS", "POOL_UNREADY", "POOL_UNAVAILABLE", "REPLICA_EXHAUSTED"] as const;
export const BACKPRESSURE_POLICIES = ["reject", "drop-lru"] as const; // no shed-low-priority (docs/contract.md#tasks)
export const PLACEMENT_OUTCOMES = ["assigned", "no_capacity"] as const;
export const CATALOG_RESULTS = ["pass", "fail"] as const;
export const MODEL_STATES = ["Active", "Retired"] as const;
/** The admission rate limiter's refusals: requests per second, tokens per minute. */
export const RATE_LIMIT_REASONS = ["rps", "tpm"] as const;
/** What the state store writes, and what its retention evicts. */
export const STORE_WRITE_KINDS = ["artifact", "transcript", "stream", "catalog", "session"] as const;
export const STORE_EVICT_KINDS = ["artifact", "transcript", "stream"] as const;
/** Why an envelope from a node link was refused: unreachable path, message type, payload, node id, task. */
export const LINK_REJECT_REASONS = ["path", "type", "payload", "node", "task"] as const;
/** A control-plane pool health check: ready, answered not ready, or no usable answer (offline, timeout, malformed). */
export const HEALTH_CHECK_OUTCOMES = ["success", "not_ready", "error"] as const;
export const ADMISSION_OUTCOMES = ["accepted", "rejected"] as const;

const POOL = ["engine", "engine_version", "pool_id", "node_id"] as const;
const REPLICA = ["engine", "engine_version", "pool_id", "replica_id", "node_id"] as const;
// Token and latency series add the model (a model id some registered pool serves: admission
// refuses any other, so the label stays bounded).
const LATENCY = [...POOL, "model", "priority"] as const;

/** Every series the control plane exposes, keyed by its property on ControlMetrics. */
export const SERIES = {
  tasksEnqueued: { name: "tasks_enqueued_total", type: "counter", help: "Tasks admitted into a queue", labels: [...REPLICA, "priority"] },
  tasksStarted: { name: "tasks_started_total", type: "counter", help: "Tasks whose engine started generating", labels: [...REPLICA, "priority"] },
  tasksCanceled: { name: "tasks_canceled_total", type: "counter", help: "Tasks canceled", labels: [...REPLICA, "reason"] },
  // No engine_version by design: rejection happens before any engine is chosen.
  tasksRejected: { name: "tasks_rejected_total", type: "counter", help: "Tasks refused at admission", labels: ["engine", "reason"] },
  queueDepth: { name: "queue_depth", type: "gauge", help: "Tasks waiting in the admission queue", labels: [...POOL, "priority"] },
  gpuUtilization: { name: "gpu_utilization", type: "gauge", help: "GPU utilisation in percent", labels: [...REPLICA, "device"] },
  vramUsed: { name: "vram_used_bytes", type: "gauge", help: "VRAM in use", labels: [...REPLICA, "device"] },
  kvCacheUsage: { name: "kv_cache_usage_ratio", type: "gauge", help: "Share of the engine's KV cache in use (0 to 1), from the node's last heartbeat", labels: REPLICA },
  firstToken: { name: "latency_first_token_ms", type: "histogram", help: "Admission to first token", labels: LATENCY, buckets: FIRST_TOKEN_BUCKETS },
  decode: { name: "latency_decode_ms", type: "histogram", help: "Decode time per task", labels: LATENCY, buckets: DECODE_BUCKETS },
  interToken: { name: "latency_inter_token_seconds", type: "histogram", help: "Mean gap between streamed tokens in seconds, sampled per batch of tokens", labels: LATENCY, buckets: INTER_TOKEN_BUCKETS, observedInMs: true },
  endToEnd: { name: "latency_end_to_end_seconds", type: "histogram", help: "Admission to the last token of a completed task, in seconds", labels: LATENCY, buckets: END_TO_END_BUCKETS, observedInMs: true },
  tokensIn: { name: "tokens_in_total", type: "counter", help: "Prompt tokens read by engines", labels: [...REPLICA, "model"] },
  tokensOut: { name: "tokens_out_total", type: "counter", help: "Tokens streamed to clients", labels: [...REPLICA, "model"] },
  backpressureEvents: { name: "admission_backpressure_events_total", type: "counter", help: "Admissions refused or evicted by a full queue", labels: ["engine", "policy"] },
  catalogVerifications: { name: "catalog_verifications_total", type: "counter", help: "Catalog model verifications", labels: ["result", "reason", "engine"] },
  modelState: { name: "model_state", type: "gauge", help: "1 for a catalog model's current lifecycle state", labels: ["model_id", "state"] },
  placementDecisions: { name: "placement_decisions_total", type: "counter", help: "Placement decisions", labels: ["outcome", "pinned", "fallback"] },
  placementCandidates: { name: "placement_candidates_considered", type: "gauge", help: "Candidates considered by the last placement", labels: [] },
  activeLeases: { name: "active_leases", type: "gauge", help: "Slots leased to running tasks", labels: ["pool_id", "node_id"] },
  poolReady: { name: "pool_ready", type: "gauge", help: "1 when the pool accepts work", labels: ["pool_id", "node_id"] },
  // Per drain request: a drain names a pool id, whichever nodes host it.
  drainEvents: { name: "drain_events_total", type: "counter", help: "Pool drains", labels: ["pool_id", "reason"] },
  sseBackpressureDrops: { name: "sse_backpressure_drops_total", type: "counter", help: "SSE frames dropped for slow clients", labels: [] },
  nodesOnline: { name: "orchd_nodes_online", type: "gauge", help: "Nodes currently online", labels: [] },
  nodeRegistrations: { name: "orchd_node_registrations_total", type: "counter", help: "Node registrations", labels: ["outcome"] },
  nodeHeartbeats: { name: "orchd_node_heartbeats_total", type: "counter", help: "Node heartbeats", labels: ["node_id", "outcome"] },
  nodeDeregistrations: { name: "orchd_node_deregistrations_total", type: "counter", help: "Node deregistrations and losses", labels: ["outcome"] },
  // The orchd_* pool series keep upstream's labels (no node_id): they aggregate a pool id over nodes.
  poolsAvailable: { name: "orchd_pools_available", type: "gauge", help: "Nodes offering the pool ready and not draining", labels: ["pool_id"] },
  admissionQueueDepth: { name: "orchd_admission_queue_depth", type: "gauge", help: "Queued tasks by the pool they target", labels: ["pool_id"] },
  admissionEnqueued: { name: "orchd_admission_enqueued_total", type: "counter", help: "Admission decisions, by the pool the task targets", labels: ["pool_id", "outcome"] },
  admissionRejected: { name: "orchd_admission_rejected_total", type: "counter", help: "Tasks refused at admission or dropped from a full queue", labels: ["pool_id", "reason"] },
  poolHealthChecks: { name: "orchd_pool_health_checks_total", type: "counter", help: "Pool health checks of a node over the link", labels: ["pool_id", "outcome"] },
  poolHealthDuration: { name: "orchd_pool_health_check_duration_ms", type: "histogram", help: "Pool health check round trip to a node", labels: ["pool_id"], buckets: HEALTH_CHECK_BUCKETS },
  tasksDispatched: { name: "orchd_tasks_dispatched_total", type: "counter", help: "Tasks handed to a node", labels: ["pool_id", "outcome"] },
  dispatchLatency: { name: "orchd_dispatch_latency_ms", type: "histogram", help: "Dispatch to node acknowledgement", labels: ["pool_id"], buckets: DISPATCH_BUCKETS },
  rateLimited: { name: "rate_limited_total", type: "counter", help: "Requests refused by a per-token rate limit", labels: ["reason"] },
  deadLetters: { name: "actor_dead_letters_total", type: "counter", help: "Actor messages not delivered", labels: ["reason"] },
  linkRejected: { name: "orchd_link_messages_rejected_total", type: "counter", help: "Envelopes from node links refused", labels: ["reason"] },
  storeWrites: { name: "store_writes_total", type: "counter", help: "Writes committed to the state store", labels: ["kind"] },
  storeWriteErrors: { name: "store_write_errors_total", type: "counter", help: "Failed state store commits, by the kinds of writes they held", labels: ["kind"] },
  storeEvicted: { name: "store_evicted_total", type: "counter", help: "Rows evicted by the state store's retention", labels: ["kind"] },
  storeBytes: { name: "store_bytes", type: "gauge", help: "Bytes of artifacts, transcripts and stream chunks in the state store", labels: [] },
  storeQueueDepth: { name: "store_write_queue_depth", type: "gauge", help: "Writes queued for the state store, not yet committed", labels: [] },
  storeQueueBytes: { name: "store_write_queue_bytes", type: "gauge", help: "Bytes of the writes queued for the state store", labels: [] },
  storeBackpressure: { name: "store_backpressure_total", type: "counter", help: "Tasks refused because the state store's write queue is above its high-water mark", labels: [] },
  transcriptsLost: { name: "transcripts_lost_total", type: "counter", help: "Task transcripts that could not be stored", labels: [] },
} as const satisfies Record<string, SeriesSpec>;

/** What a scrape of a control plane must show: a `# TYPE` line each, samples with exactly these labels. */
export const REQUIRED_SERIES: readonly SeriesSpec[] = Object.values(SERIES);

type Spec<L extends string> = { name: string; help: string; labels: readonly L[]; buckets?: readonly number[]; observedInMs?: boolean };

export function createControlMetrics(registry = new Registry()) {
  const registers = [registry];
  const counter = <L extends string>(s: Spec<L>) => allLabels(new Counter<L>({ name: s.name, help: s.help, labelNames: s.labels, registers }), s.labels);
  const gauge = <L extends string>(s: Spec<L>) => allLabels(new Gauge<L>({ name: s.name, help: s.help, labelNames: s.labels, registers }), s.labels);
  const histogram = <L extends string>(s: Spec<L>) => {
    const h = allLabels(new Histogram<L>({ name: s.name, help: s.help, labelNames: s.labels, buckets: [...(s.buckets ?? [])], registers }), s.labels);
    return s.observedInMs ? msToSeconds(h) : h;
  };
  const S = SERIES;
  const m = {
    registry,
    tasksEnqueued: counter(S.tasksEnqueued),
    tasksStarted: counter(S.tasksStarted),
    tasksCanceled: counter(S.tasksCanceled),
    tasksRejected: counter(S.tasksRejected),
    queueDepth: gauge(S.queueDepth),
    gpuUtilization: gauge(S.gpuUtilization),
    vramUsed: gauge(S.vramUsed),
    kvCacheUsage: gauge(S.kvCacheUsage),
    firstToken: histogram(S.firstToken),
    decode: histogram(S.decode),
    interToken: histogram(S.interToken),
    endToEnd: histogram(S.endToEnd),
    tokensIn: counter(S.tokensIn),
    tokensOut: counter(S.tokensOut),
    backpressureEvents: counter(S.backpressureEvents),
    catalogVerifications: counter(S.catalogVerifications),
    modelState: gauge(S.modelState),
    placementDecisions: counter(S.placementDecisions),
    placementCandidates: gauge(S.placementCandidates),
    activeLeases: gauge(S.activeLeases),
    poolReady: gauge(S.poolReady),
    drainEvents: counter(S.drainEvents),
    sseBackpressureDrops: counter(S.sseBackpressureDrops),
    nodesOnline: gauge(S.nodesOnline),
    nodeRegistrations: counter(S.nodeRegistrations),
    nodeHeartbeats: counter(S.nodeHeartbeats),
    nodeDeregistrations: counter(S.nodeDeregistrations),
    poolsAvailable: gauge(S.poolsAvailable),
    admissionQueueDepth: gauge(S.admissionQueueDepth),
    admissionEnqueued: counter(S.admissionEnqueued),
    admissionRejected: counter(S.admissionRejected),
    poolHealthChecks: counter(S.poolHealthChecks),
    poolHealthDuration: histogram(S.poolHealthDuration),
    tasksDispatched: counter(S.tasksDispatched),
    dispatchLatency: histogram(S.dispatchLatency),
    rateLimited: counter(S.rateLimited),
    deadLetters: counter(S.deadLetters),
    linkRejected: counter(S.linkRejected),
    storeWrites: counter(S.storeWrites),
    storeWriteErrors: counter(S.storeWriteErrors),
    storeEvicted: counter(S.storeEvicted),
    storeBytes: gauge(S.storeBytes),
    storeQueueDepth: gauge(S.storeQueueDepth),
    storeQueueBytes: gauge(S.storeQueueBytes),
    storeBackpressure: counter(S.storeBackpressure),
    transcriptsLost: counter(S.transcriptsLost),
  };

  // Pre-registration: unlabelled series start at 0 by themselves; labelled ones whose values are
  // all known up front start at 0 here. Series with open labels (pool, node, model, reason
  // strings from the engine) only show their `# TYPE` line until first used.
  for (const reason of REJECT_REASONS) m.tasksRejected.inc({ engine: "", reason }, 0);
  for (const policy of BACKPRESSURE_POLICIES) m.backpressureEvents.inc({ engine: "", policy }, 0);
  for (const outcome of PLACEMENT_OUTCOMES) {
    for (const pinned of ["true", "false"]) for (const fallback of ["true", "false"]) m.placementDecisions.inc({ outcome, pinned, fallback }, 0);
  }
  for (const reason of RATE_LIMIT_REASONS) m.rateLimited.inc({ reason }, 0);
  for (const reason of LINK_REJECT_REASONS) m.linkRejected.inc({ reason }, 0);
  for (const outcome of ADMISSION_OUTCOMES) m.admissionEnqueued.inc({ pool_id: "", outcome }, 0);
  for (const outcome of ["success", "error"]) m.nodeRegistrations.inc({ outcome }, 0);
  for (const outcome of ["success", "lost"]) m.nodeDeregistrations.inc({ outcome }, 0);
  for (const kind of STORE_WRITE_KINDS) {
    m.storeWrites.inc({ kind }, 0);
    m.storeWriteErrors.inc({ kind }, 0);
  }
  for (const kind of STORE_EVICT_KINDS) m.storeEvicted.inc({ kind }, 0);
  return m;
}

export type ControlMetrics = ReturnType<typeof createControlMetrics>;

const LABEL_METHODS = ["inc", "dec", "set", "observe", "setToCurrentTime", "startTimer", "labels", "remove", "zero"] as const;

/**
 * prom-client accepts a label object that lacks declared labels and then writes a sample without
 * them, so one forgotten `node_id` would split a series. Every label-object argument is completed
 * here with "" for what the caller did not know (the convention the call sites already use for
 * "not placed yet"); unknown labels still throw. Counter and Histogram bind `inc`/`observe` per
 * instance, hence wrapping the instance rather than subclassing.
 */
function allLabels<T extends object>(metric: T, names: readonly string[]): T {
  if (names.length === 0) return metric;
  const complete = (labels: Record<string, unknown>) => {
    // Fast path, taken per token by children from `labels()`: already complete, no allocation.
    let count = 0;
    for (const _ in labels) count++;
    if (count === names.length && names.every((n) => labels[n] !== undefined)) return labels;
    const out: Record<string, unknown> = Object.fromEntries(names.map((n) => [n, labels[n] ?? ""]));
    for (const [k, v] of Object.entries(labels)) if (!(k in out)) out[k] = v; // prom-client rejects these
    return out;
  };
  const target = metric as Record<string, unknown>;
  for (const method of LABEL_METHODS) {
    const original = target[method];
    if (typeof original !== "function") continue;
    target[method] = (first: unknown, ...rest: unknown[]) =>
      original.call(metric, isLabelObject(first) ? complete(first) : first, ...rest);
  }
  return metric;
}

/**
 * A `_seconds` histogram fed in milliseconds (`observedInMs`): `observe` and the children of
 * `labels()` divide by 1000, so call sites keep measuring with the clock's milliseconds.
 */
export function msToSeconds<T extends object>(histogram: T): T {
  const target = histogram as Record<string, unknown>;
  const observe = target.observe as (...args: unknown[]) => void;
  target.observe = (first: unknown, value?: unknown) =>
    isLabelObject(first) ? observe.call(histogram, first, (value as number) / 1000) : observe.call(histogram, (first as number) / 1000);
  const labels = target.labels as (...args: unknown[]) => { observe(v: number): void };
  if (typeof labels === "function") {
    target.labels = (...args: unknown[]) => {
      const child = labels.apply(histogram, args);
      return { ...child, observe: (ms: number) => child.observe(ms / 1000) };
    };
  }
  return histogram;
}

function isLabelObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format → `# TYPE` lines and samples (enough for tests; no timestamps). */
export function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ");
      if (name && type) types.set(name, type);
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const l of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return { types, samples };
}

/**
 * Problems with a scrape against a series table: a missing or wrong `# TYPE` line, a sample whose
 * label set is not exactly the declared one, histogram buckets other than the declared ones.
 * Empty when the scrape conforms.
 */
export function checkExposition(text: string, series: readonly SeriesSpec[] = REQUIRED_SERIES): string[] {
  const { types, samples } = parseExposition(text);
  const problems: string[] = [];
  for (const spec of series) {
    const type = types.get(spec.name);
    if (type !== spec.type) problems.push(`${spec.name}: expected "# TYPE ${spec.name} ${spec.type}", found ${type ?? "none"}`);
    const expected = [...spec.labels].sort().join(",");
    const les = new Set<string>();
    for (const s of samples) {
      const suffix = familySuffix(spec, s.name);
      if (suffix === undefined) continue;
      const keys = Object.keys(s.labels).filter((k) => !(suffix === "_bucket" && k === "le"));
      if (keys.sort().join(",") !== expected) problems.push(`${s.name}: labels {${keys.join(",")}} instead of {${expected}}`);
      if (suffix === "_bucket") les.add(s.labels.le ?? "");
    }
    if (spec.buckets && les.size > 0) {
      const want = [...spec.buckets.map(String), "+Inf"];
      if (les.size !== want.length || !want.every((b) => les.has(b))) problems.push(`${spec.name}: buckets [${[...les].join(",")}] instead of [${want.join(",")}]`);
    }
  }
  return problems;
}

function familySuffix(spec: SeriesSpec, sample: string): string | undefined {
  if (sample === spec.name && spec.type !== "histogram") return "";
  if (spec.type !== "histogram") return undefined;
  for (const suffix of ["_bucket", "_sum", "_count"]) if (sample === spec.name + suffix) return suffix;
  return undefined;
}
