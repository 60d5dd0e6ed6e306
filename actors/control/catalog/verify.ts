// Pure rules of the catalog: where a model's local file is, whether an entry passes the trust
// policy at ingest, and how a computed file digest compares with the expected one
// (docs/contract.md#catalog). No I/O here, so every rule is unit-tested directly.

import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { CatalogModelRequestV2, TrustPolicy, VerifyResult } from "../../../contract/index.ts";
import type { VerifyReason } from "./protocol.ts";
import type { HashRefusal } from "../../../adapters/storage/confined-hash.ts";

/** A URI scheme of two or more letters; one letter would be a Windows drive, not a scheme. */
const SCHEME_RE = /^([a-z][a-z0-9+.-]+):/i;

/**
 * The local file behind `source_url`: a `file:` URL or a plain path (relative paths resolve
 * against `baseDir`). Undefined for remote sources (`hf:`, `https://`, `s3://`, `oci://`) or none.
 */
export function localPathOf(sourceUrl: string | undefined, baseDir: string): string | undefined {
  if (!sourceUrl) return undefined;
  const scheme = SCHEME_RE.exec(sourceUrl)?.[1]?.toLowerCase();
  if (scheme === undefined) return isAbsolute(sourceUrl) ? sourceUrl : resolve(baseDir, sourceUrl);
  if (scheme !== "file") return undefined;
  const rest = sourceUrl.slice("file:".length);
  if (rest.startsWith("/")) {
    try {
      return fileURLToPath(new URL(sourceUrl));
    } catch {
      return undefined; // e.g. file://otherhost/x: not a local file
    }
  }
  return rest === "" ? undefined : resolve(baseDir, rest);
}

/** The registry a remote source comes from, for `allowed_registries`; undefined when local. */
export function registryOf(sourceUrl: string | undefined): string | undefined {
  if (!sourceUrl) return undefined;
  const scheme = SCHEME_RE.exec(sourceUrl)?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === "file") return undefined;
  if (scheme === "hf") return "huggingface.co";
  try {
    return new URL(sourceUrl).hostname || scheme;
  } catch {
    return scheme;
  }
}

/**
 * Why an entry is refused at ingest (UNTRUSTED_ARTIFACT), or undefined when it is accepted.
 * Strict comes from the `X-Trust-Policy: strict` header or the effective policy's mode; in strict
 * mode a verified signature is required unless `require_signature:false` says otherwise.
 */
export function trustViolation(model: CatalogModelRequestV2, policy: TrustPolicy, headerStrict: boolean): string | undefined {
  if (!headerStrict && policy.mode !== "strict") return undefined;
  if ((policy.require_signature ?? true) && !(model.signatures ?? []).some((s) => s.verified)) {
    return `model ${model.id}: strict trust policy requires a verified signature and none was given`;
  }
  if (policy.require_sbom && !model.sbom) {
    return `model ${model.id}: strict trust policy requires an SBOM and none was given`;
  }
  const allowed = policy.allowed_registries ?? [];
  const registry = registryOf(model.source_url);
  if (allowed.length > 0 && registry !== undefined && !allowed.includes(registry)) {
    return `model ${model.id}: registry ${registry} is not in allowed_registries (${allowed.join(", ")})`;
  }
  return undefined;
}

/** The entry's own trust policy over the configured default, field by field. */
export function effectivePolicy(base: TrustPolicy, own: TrustPolicy | undefined): TrustPolicy {
  const merged: TrustPolicy = { ...base };
  for (const [k, v] of Object.entries(own ?? {})) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  return merged;
}

/** Missing signatures or SBOM only warn at verification: a hash proves the file, a signature is policy. */
export function verifyWarnings(model: { digest?: string; signatures: { verified: boolean }[]; sbom?: unknown }): string[] {
  const warnings: string[] = [];
  if (model.digest === undefined) warnings.push("no expected digest provided; proceeding with warnings");
  if (!model.signatures.some((s) => s.verified)) warnings.push("no verified signature");
  if (model.sbom === undefined) warnings.push("no SBOM");
  return warnings;
}

export interface DigestVerdict {
  result: VerifyResult;
  reason: VerifyReason;
  actual_digest?: string;
  detail?: string;
}

/** Compares a file hash (or the error reading it) with the expected `sha256:<hex>` digest. */
export function judgeDigest(
  expected: string | undefined,
  hashed: { ok: true; hex: string } | { ok: false; reason: HashRefusal; detail: string } | { ok: false; error: unknown },
  path: string | undefined,
): DigestVerdict {
  if (!hashed.ok && "reason" in hashed) return { result: "fail", reason: hashed.reason, detail: hashed.detail };
  if (!hashed.ok) {
    const code = (hashed.error as { code?: string } | null)?.code;
    if (path === undefined) return { result: "fail", reason: "file_missing", detail: "the model has no local file (source_url is remote or absent)" };
    if (code === "ENOENT" || code === "ENOTDIR") return { result: "fail", reason: "file_missing", detail: `no file at ${path}` };
    return { result: "fail", reason: "unreadable", detail: `cannot read ${path}: ${code ?? (hashed.error as Error)?.message ?? "error"}` };
  }
  const actual = `sha256:${hashed.hex}`;
  if (expected === undefined) return { result: "pass", reason: "no_digest", actual_digest: actual };
  if (expected === actual) return { result: "pass", reason: "digest_match", actual_digest: actual };
  return { result: "fail", reason: "digest_mismatch", actual_digest: actual, detail: `digest mismatch: expected ${expected}, actual ${actual}` };
}
