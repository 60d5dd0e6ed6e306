// Handoff files (docs/contract.md#nodes): the JSON an external provisioner or an operator
// writes after starting an engine itself, named `<pool_id>-<replica_id>.json`. This module turns
// one file's name and text into a `Handoff` or a reason naming the file and the field, and reads
// the watcher's environment settings. Pure: no file system, no clock.

import { z } from "zod";

/** Same rule as the pool ids of the node config, so a bound pool looks like a configured one. */
const ID = /^[A-Za-z0-9._-]{1,64}$/;
const ID_MESSAGE = "ids are 1-64 letters, digits, '.', '_' or '-'";
/** A handoff is a few hundred bytes; anything far larger is not one. */
export const MAX_HANDOFF_BYTES = 64 * 1024;
/** Engines the node can drive over HTTP without having started them. */
const BINDABLE_ENGINES = ["llamacpp"] as const;

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
}

const count = z.number().int().min(0);

// Unknown keys are dropped, not refused: provisioners add fields over time, and a handoff written
// by a newer one should still bind. They are reported (`ignored_keys`) so a typo shows in the log.
const HandoffFile = z.object({
  engine: z.string().min(1).default("llamacpp"),
  engine_version: z.string().min(1).max(256).optional(),
  provisioning_mode: z.string().min(1).max(64).optional(),
  url: z.string().refine(isHttpUrl, "must be an http(s) URL such as http://127.0.0.1:8081"),
  pool_id: z.string().regex(ID, ID_MESSAGE),
  replica_id: z.string().regex(ID, ID_MESSAGE).default("r0"),
  model: z.object({ path: z.string().min(1).optional(), id: z.string().min(1).max(256).optional() }).optional(),
  flags: z.array(z.string().max(4096)).max(256).optional(),
  device_mask: z.string().optional(),
  slots_total: count.min(1).max(1024).optional(),
  slots_free: count.max(1024).optional(),
  metadata: z.object({ size_bytes: count.optional(), ctx_max: count.min(1).optional() }).optional(),
});
const KNOWN_KEYS = new Set(Object.keys(HandoffFile.shape));

export type HandoffEngine = (typeof BINDABLE_ENGINES)[number];

export interface Handoff {
  /** The file's name inside the watched directory. */
  file: string;
  /** `<pool_id>:<replica_id>`: what the watcher binds once. */
  key: string;
  engine: HandoffEngine;
  engine_version?: string;
  provisioning_mode?: string;
  url: string;
  pool_id: string;
  replica_id: string;
  model?: { path?: string; id?: string };
  /** The pool's `models_available` entry: model.id, else model.path's base name, else pool_id. */
  model_id: string;
  flags?: string[];
  device_mask?: string;
  /** device_mask as GPU indexes ("GPU0" → [0], "0,1" → [0, 1]). */
  devices?: number[];
  /** Absent counts stay absent rather than invented: placement treats the pool as one slot. */
  slots_total?: number;
  slots_free?: number;
  metadata?: { size_bytes?: number; ctx_max?: number };
  /** Top-level keys of the file this version does not know. */
  ignored_keys?: string[];
}

export type HandoffParse =
  | { ok: true; handoff: Handoff }
  /** `pool_id` is set when the file named a valid one, so the failure can be counted under it. */
  | { ok: false; file: string; field: string; reason: string; pool_id?: string };

/** "GPU0", "gpu1", "0,1" or "GPU0, GPU2" → device indexes in the given order, duplicates once. */
export function parseDeviceMask(mask: string): number[] | string {
  const parts = mask.split(",").map((p) => p.trim());
  const devices: number[] = [];
  for (const p of parts) {
    const m = /^(?:gpu)?(\d{1,4})$/i.exec(p);
    if (!m) return `'${mask}' is not a device mask such as "GPU0" or "0,1"`;
    const d = Number(m[1]);
    if (!devices.includes(d)) devices.push(d);
  }
  return devices;
}

function baseName(path: string): string | undefined {
  const name = path.split(/[\\/]/).pop();
  return name ? name : undefined;
}

/** Parses one handoff file. `file` is its name (no directory); `text` its contents. */
export function parseHandoff(file: string, text: string): HandoffParse {
  const fail = (field: string, reason: string, pool_id?: string): HandoffParse => ({ ok: false, file, field, reason: `${file}: ${field}: ${reason}`, pool_id });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail("<root>", `not valid JSON (${(error as Error).message})`);
  }
  const claimed = typeof raw === "object" && raw !== null && typeof (raw as { pool_id?: unknown }).pool_id === "string" ? (raw as { pool_id: string }).pool_id : undefined;
  const poolId = claimed !== undefined && ID.test(claimed) ? claimed : undefined;
  const parsed = HandoffFile.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join(".") || "<root>";
    const more = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more)` : "";
    return fail(field, issue.message + more, poolId);
  }
  const h = parsed.data;
  if (!(BINDABLE_ENGINES as readonly string[]).includes(h.engine)) {
    return fail("engine", `engine '${h.engine}' cannot be bound from a handoff (supported: ${BINDABLE_ENGINES.join(", ")})`, h.pool_id);
  }
  const expected = `${h.pool_id}-${h.replica_id}.json`;
  if (file !== expected) return fail("file", `the file name must be '<pool_id>-<replica_id>.json', '${expected}' for this content`, h.pool_id);
  let devices: number[] | undefined;
  if (h.device_mask !== undefined) {
    const d = parseDeviceMask(h.device_mask);
    if (typeof d === "string") return fail("device_mask", d, h.pool_id);
    devices = d;
  }
  const ignored = Object.keys(raw as object).filter((k) => !KNOWN_KEYS.has(k));
  const handoff: Handoff = {
    file,
    key: `${h.pool_id}:${h.replica_id}`,
    engine: h.engine as HandoffEngine,
    url: h.url,
    pool_id: h.pool_id,
    replica_id: h.replica_id,
    model_id: h.model?.id ?? (h.model?.path ? baseName(h.model.path) : undefined) ?? h.pool_id,
  };
  if (h.engine_version !== undefined) handoff.engine_version = h.engine_version;
  if (h.provisioning_mode !== undefined) handoff.provisioning_mode = h.provisioning_mode;
  if (h.model !== undefined) handoff.model = h.model;
  if (h.flags !== undefined) handoff.flags = h.flags;
  if (h.device_mask !== undefined) handoff.device_mask = h.device_mask;
  if (devices !== undefined) handoff.devices = devices;
  if (h.slots_total !== undefined) handoff.slots_total = h.slots_total;
  // Free slots are clamped to [0, slots_total]: a pool never reports more free than it has.
  if (h.slots_free !== undefined) handoff.slots_free = h.slots_total === undefined ? h.slots_free : Math.min(h.slots_free, h.slots_total);
  if (h.metadata !== undefined) handoff.metadata = h.metadata;
  if (ignored.length > 0) handoff.ignored_keys = ignored;
  return { ok: true, handoff };
}

export interface HandoffSettings {
  intervalMs: number;
  autoDelete: boolean;
}

export const DEFAULT_HANDOFF_INTERVAL_MS = 1000;

/**
 * POOL_MANAGERD_WATCH_INTERVAL_MS (default 1000) and POOL_MANAGERD_AUTO_DELETE_HANDOFF (default
 * true), with the HOME legacy ORCHD_HANDOFF_WATCH_INTERVAL_MS as a fallback. Throws on a value
 * that is neither a positive integer nor a boolean word, naming the variable.
 */
export function handoffSettings(env: Record<string, string | undefined>): HandoffSettings {
  const intervalVar = env.POOL_MANAGERD_WATCH_INTERVAL_MS !== undefined ? "POOL_MANAGERD_WATCH_INTERVAL_MS" : "ORCHD_HANDOFF_WATCH_INTERVAL_MS";
  const intervalText = env[intervalVar];
  let intervalMs = DEFAULT_HANDOFF_INTERVAL_MS;
  if (intervalText !== undefined && intervalText !== "") {
    intervalMs = Number(intervalText);
    if (!/^\d+$/.test(intervalText.trim()) || intervalMs < 1) throw new Error(`${intervalVar} must be a positive whole number of milliseconds, got '${intervalText}'`);
  }
  const del = env.POOL_MANAGERD_AUTO_DELETE_HANDOFF?.trim().toLowerCase();
  let autoDelete = true;
  if (del !== undefined && del !== "") {
    if (["1", "true", "yes", "on"].includes(del)) autoDelete = true;
    else if (["0", "false", "no", "off"].includes(del)) autoDelete = false;
    else throw new Error(`POOL_MANAGERD_AUTO_DELETE_HANDOFF must be true or false, got '${env.POOL_MANAGERD_AUTO_DELETE_HANDOFF}'`);
  }
  return { intervalMs, autoDelete };
}
