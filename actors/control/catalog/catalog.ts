// The model catalog: models with their lifecycle (Active|Retired) and last verification, one
// record each in the state store (`catalog_models`), loaded at start. Every change is committed
// to the store before it is applied in memory, so a failed write leaves the catalog as it was
// (catalog changes are rare: waiting for the commit in the mailbox keeps them strictly ordered).
// Hashing a model file runs aside (pipeToSelf), so the catalog keeps answering while a
// multi-GiB file is read. Only regular files under the configured roots are hashed, within size
// and time limits (adapters/storage/confined-hash.ts).

import type { ActorFactory, Logger, ReplyHandle } from "../../../runtime/index.ts";
import { hashConfinedFile, type ConfinedHash, type HashLimits } from "../../../adapters/storage/confined-hash.ts";
import type { StateStore } from "../../../adapters/storage/state-store.ts";
import { type CatalogModelRequestV2, CatalogModelV2, type CatalogVerifyResponse, type PortResult, type TrustPolicy } from "../../../contract/index.ts";
import type { CatalogMetrics, CatalogMsg, LifecycleChange } from "./protocol.ts";
import { effectivePolicy, judgeDigest, localPathOf, trustViolation, verifyWarnings } from "./verify.ts";

export interface CatalogOptions {
  /** Where the entries live (`store.catalog`). */
  store: StateStore;
  log: Logger;
  metrics?: CatalogMetrics;
  /** The configured `catalog.trust_policy`; an entry's own policy overrides it field by field. */
  trustPolicy?: TrustPolicy;
  /** Relative `source_url` paths resolve against this (default: the process's working directory). */
  baseDir?: string;
  /** Directories a verified file must lie under (ORCHD_CATALOG_ROOTS); default: `baseDir` alone. */
  roots?: readonly string[];
  /** Size and time limits on hashing one file; CATALOG_HASH_LIMITS when absent. */
  hashLimits?: Partial<Omit<HashLimits, "roots">>;
  /** Hashes a file within the roots and limits; hashConfinedFile unless a test injects one. */
  hashFile?: (path: string, limits: HashLimits) => Promise<ConfinedHash>;
  /** Told each entry's lifecycle when the catalog loads, then after every durable change (created Active, state change, deleted). */
  onLifecycle?: (change: LifecycleChange) => void;
}

type Models = Map<string, CatalogModelV2>;

/** Defaults of the hashing limits: 256 GiB (larger than any model file) and 30 minutes. */
export const CATALOG_HASH_LIMITS = { maxBytes: 256 * 1024 ** 3, timeoutMs: 30 * 60_000 };
type VerifyReply = ReplyHandle<PortResult<CatalogVerifyResponse>>;

const notFound = (id: string) => ({ ok: false as const, error: { code: "NOT_FOUND" as const, message: `model ${id} not found` } });

export function catalogActor(options: CatalogOptions): ActorFactory<CatalogMsg> {
  return (ctx) => {
    const { log, metrics } = options;
    const baseDir = options.baseDir ?? process.cwd();
    const limits: HashLimits = { ...CATALOG_HASH_LIMITS, ...options.hashLimits, roots: options.roots ?? [baseDir], clock: ctx.clock };
    const hashFile = options.hashFile ?? hashConfinedFile;
    const { store } = options;
    let models: Models = new Map();
    /** Replies waiting for the one hash running per model id. */
    const verifying = new Map<string, (VerifyReply | undefined)[]>();

    /** Commits the change of `id` in `next` durably, then makes `next` current. False (logged) when the write failed. */
    const commit = async (next: Models, id: string): Promise<boolean> => {
      const entry = next.get(id);
      try {
        await (entry ? store.catalog.put(id, entry) : store.catalog.delete(id));
      } catch (e) {
        log.error("Could not write the catalog index", { model_id: id, error: (e as Error).message });
        return false;
      }
      models = next;
      return true;
    };
    const writeFailed = { ok: false as const, error: { code: "INTERNAL" as const, message: "could not write the catalog index" } };

    const changed = (change: LifecycleChange) => {
      if (change.state === "Deleted") metrics?.modelRemoved?.(change.model_id);
      else metrics?.modelState(change.model_id, change.state);
      options.onLifecycle?.(change);
    };

    const startHash = (id: string, entry: CatalogModelV2) => {
      const path = localPathOf(entry.source_url, baseDir);
      const work = path === undefined ? Promise.reject(new Error("no local file")) : hashFile(path, limits);
      ctx.pipeToSelf(work, (outcome) => ({ type: "hashed", id, path, outcome }));
    };

    const finishVerify = async (msg: Extract<CatalogMsg, { type: "hashed" }>) => {
      const waiting = verifying.get(msg.id) ?? [];
      const answer = (r: PortResult<CatalogVerifyResponse>) => waiting.forEach((w) => w?.resolve(r));
      const entry = models.get(msg.id);
      if (!entry) {
        verifying.delete(msg.id);
        return answer(notFound(msg.id));
      }
      // The entry now points elsewhere (re-registered meanwhile): hash the new file instead.
      if (localPathOf(entry.source_url, baseDir) !== msg.path) return startHash(msg.id, entry);
      verifying.delete(msg.id);
      const hashed = msg.outcome.ok ? msg.outcome.value : { ok: false as const, error: msg.outcome.error };
      const verdict = judgeDigest(entry.digest, hashed, msg.path);
      const now = ctx.clock.now();
      const next = new Map(models).set(msg.id, {
        ...entry,
        last_verified_ms: now,
        last_verify_result: verdict.result,
        last_verify_reason: verdict.reason,
      });
      // The verdict stands even if it cannot be saved; the next verify writes it again.
      await commit(next, msg.id);
      metrics?.verification(verdict.result, verdict.reason);
      const fields = { model_id: msg.id, result: verdict.result, reason: verdict.reason, expected_digest: entry.digest, actual_digest: verdict.actual_digest };
      if (verdict.result === "pass") log.info(`Model ${msg.id} verified`, fields);
      else log.warn(`Model ${msg.id} failed verification: ${verdict.detail}`, fields);
      if (verdict.reason === "digest_mismatch") {
        return answer({
          ok: false,
          error: {
            code: "UNTRUSTED_ARTIFACT",
            message: `model ${msg.id}: ${verdict.detail}`,
            id: msg.id,
            expected_digest: entry.digest,
            actual_digest: verdict.actual_digest,
          },
        });
      }
      answer({
        ok: true,
        value: {
          id: msg.id,
          result: verdict.result,
          reason: verdict.reason,
          expected_digest: entry.digest,
          actual_digest: verdict.actual_digest,
          detail: verdict.detail,
          warnings: verifyWarnings(entry),
          last_verified_ms: now,
        },
      });
    };

    const create = async (model: CatalogModelRequestV2, trust: "strict" | undefined) => {
      const violation = trustViolation(model, effectivePolicy(options.trustPolicy ?? {}, model.trust_policy), trust === "strict");
      if (violation) {
        log.warn(`Refused untrusted model ${model.id}`, { model_id: model.id, reason: violation });
        return { ok: false as const, error: { code: "UNTRUSTED_ARTIFACT" as const, message: violation } };
      }
      const previous = models.get(model.id);
      const now = ctx.clock.now();
      // The old verdict stays valid only while it is about the same file and the same digest.
      const sameArtifact = previous && previous.digest === model.digest && previous.source_url === model.source_url;
      const entry: CatalogModelV2 = {
        id: model.id,
        digest: model.digest,
        source_url: model.source_url,
        tags: model.tags ?? [],
        manifests: model.manifests ?? [],
        signatures: model.signatures ?? [],
        sbom: model.sbom,
        trust_policy: model.trust_policy,
        lifecycle: previous?.lifecycle ?? "Active",
        created_ms: previous?.created_ms ?? now,
        updated_ms: now,
        ...(sameArtifact
          ? { last_verified_ms: previous.last_verified_ms, last_verify_result: previous.last_verify_result, last_verify_reason: previous.last_verify_reason }
          : {}),
      };
      if (!(await commit(new Map(models).set(model.id, entry), model.id))) return writeFailed;
      log.info(`Model ${model.id} ${previous ? "updated" : "registered"} in the catalog`, { model_id: model.id, digest: model.digest, source_url: model.source_url });
      if (!previous) changed({ model_id: model.id, state: entry.lifecycle });
      return { ok: true as const, value: { model: entry, created: !previous } };
    };

    return {
      async init() {
        models = parseEntries(await store.catalog.load());
        for (const m of models.values()) {
          metrics?.modelState(m.id, m.lifecycle);
          options.onLifecycle?.({ model_id: m.id, state: m.lifecycle });
        }
        log.info(`Catalog loaded with ${models.size} model(s)`);
      },
      async receive(msg) {
        switch (msg.type) {
          case "create":
            return create(msg.model, msg.trust);
          case "get":
            return models.get(msg.id);
          case "list":
            return [...models.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
          case "lifecycle":
            return models.get(msg.model_id)?.lifecycle;
          case "delete": {
            if (!models.has(msg.id)) return notFound(msg.id);
            const next = new Map(models);
            next.delete(msg.id);
            // The model's files are the operator's; the catalog forgets the entry, nothing more.
            if (!(await commit(next, msg.id))) return writeFailed;
            log.info(`Model ${msg.id} removed from the catalog`, { model_id: msg.id });
            changed({ model_id: msg.id, state: "Deleted" });
            return { ok: true, value: undefined };
          }
          case "set-state": {
            const entry = models.get(msg.id);
            if (!entry) return notFound(msg.id);
            const previous = entry.lifecycle;
            if (previous !== msg.state) {
              const next = new Map(models).set(msg.id, { ...entry, lifecycle: msg.state, updated_ms: ctx.clock.now() });
              if (!(await commit(next, msg.id))) return writeFailed;
              log.info(`Model ${msg.id} is ${msg.state}`, { event: msg.state === "Retired" ? "retire" : "activate", model_id: msg.id, previous, deadline_ms: msg.deadline_ms });
              changed({ model_id: msg.id, state: msg.state, deadline_ms: msg.deadline_ms });
            }
            return { ok: true, value: { id: msg.id, state: msg.state, previous, changed: previous !== msg.state, deadline_ms: msg.deadline_ms } };
          }
          case "verify": {
            const entry = models.get(msg.id);
            if (!entry) return notFound(msg.id);
            const reply = ctx.takeReply<PortResult<CatalogVerifyResponse>>();
            const waiting = verifying.get(msg.id);
            if (waiting) return void waiting.push(reply);
            verifying.set(msg.id, [reply]);
            return startHash(msg.id, entry);
          }
          case "hashed":
            return finishVerify(msg);
        }
      },
    };
  };
}

/** The stored entries; a bad one refuses to start (the store holds only what this actor wrote). */
function parseEntries(records: { id: string; value: unknown }[]): Models {
  const models: Models = new Map();
  for (const { id, value } of records) {
    const parsed = CatalogModelV2.safeParse(value);
    if (!parsed.success || parsed.data.id !== id) throw new Error(`catalog: invalid stored entry ${JSON.stringify(id)}`);
    models.set(id, parsed.data);
  }
  return models;
}
