// The catalog's pure rules: local path resolution, registries, trust at ingest, digest verdicts.

import { expect, test } from "bun:test";
import { effectivePolicy, judgeDigest, localPathOf, registryOf, trustViolation, verifyWarnings } from "./verify.ts";

const A = `sha256:${"a".repeat(64)}`;
const B = `sha256:${"b".repeat(64)}`;

test("localPathOf: file: URLs and plain paths are local, remote schemes are not", () => {
  expect(localPathOf("/models/x.gguf", "/base")).toBe("/models/x.gguf");
  expect(localPathOf("rel/x.gguf", "/base")).toBe("/base/rel/x.gguf");
  expect(localPathOf("file:///models/my%20model.gguf", "/base")).toBe("/models/my model.gguf");
  expect(localPathOf("file:/models/x.gguf", "/base")).toBe("/models/x.gguf");
  expect(localPathOf("file:rel/x.gguf", "/base")).toBe("/base/rel/x.gguf");
  expect(localPathOf("FILE:///m", "/base")).toBe("/m");
  for (const remote of ["hf:org/repo/x.gguf", "https://h/x.gguf", "s3://b/k", "oci://r/x:1", "file://otherhost/x", "file:", undefined, ""]) {
    expect(localPathOf(remote, "/base")).toBeUndefined();
  }
});

test("registryOf names the host of remote sources and nothing for local ones", () => {
  expect(registryOf("hf:org/repo")).toBe("huggingface.co");
  expect(registryOf("https://models.example.com:8443/x")).toBe("models.example.com");
  expect(registryOf("oci://ghcr.io/org/model:1")).toBe("ghcr.io");
  expect(registryOf("/local/x")).toBeUndefined();
  expect(registryOf("file:///x")).toBeUndefined();
});

test("trustViolation: strict needs a verified signature unless relaxed, SBOM when asked, an allowed registry", () => {
  const signed = [{ signer: "s", algo: "ed25519", verified: true, timestamp_ms: 0 }];
  const unverified = [{ signer: "s", algo: "ed25519", verified: false, timestamp_ms: 0 }];
  expect(trustViolation({ id: "m" }, {}, false)).toBeUndefined();
  expect(trustViolation({ id: "m" }, { mode: "permissive", require_signature: true }, false)).toBeUndefined();
  expect(trustViolation({ id: "m" }, {}, true)).toContain("verified signature");
  expect(trustViolation({ id: "m", signatures: unverified }, { mode: "strict" }, false)).toContain("verified signature");
  expect(trustViolation({ id: "m", signatures: signed }, { mode: "strict" }, false)).toBeUndefined();
  expect(trustViolation({ id: "m" }, { mode: "strict", require_signature: false }, false)).toBeUndefined();
  expect(trustViolation({ id: "m", signatures: signed }, { mode: "strict", require_sbom: true }, false)).toContain("SBOM");
  const policy = { mode: "strict" as const, require_signature: false, allowed_registries: ["huggingface.co"] };
  expect(trustViolation({ id: "m", source_url: "hf:org/repo" }, policy, false)).toBeUndefined();
  expect(trustViolation({ id: "m", source_url: "https://evil.example/x" }, policy, false)).toContain("evil.example is not in allowed_registries");
  expect(trustViolation({ id: "m", source_url: "/local/x" }, policy, false)).toBeUndefined();
});

test("effectivePolicy: the entry's fields win over the configured ones, unset fields do not erase them", () => {
  expect(effectivePolicy({ mode: "strict", require_sbom: true }, { mode: "permissive" })).toEqual({ mode: "permissive", require_sbom: true });
  expect(effectivePolicy({ mode: "strict" }, undefined)).toEqual({ mode: "strict" });
});

test("judgeDigest: a match passes, no expected digest passes with a warning, a mismatch fails", () => {
  const hex = "a".repeat(64);
  expect(judgeDigest(A, { ok: true, hex }, "/m")).toEqual({ result: "pass", reason: "digest_match", actual_digest: A });
  expect(judgeDigest(undefined, { ok: true, hex }, "/m")).toEqual({ result: "pass", reason: "no_digest", actual_digest: A });
  expect(judgeDigest(B, { ok: true, hex }, "/m")).toEqual({ result: "fail", reason: "digest_mismatch", actual_digest: A, detail: `digest mismatch: expected ${B}, actual ${A}` });
  expect(judgeDigest(A, { ok: false, error: { code: "ENOENT" } }, "/m")).toMatchObject({ result: "fail", reason: "file_missing", detail: "no file at /m" });
  expect(judgeDigest(A, { ok: false, error: new Error("x") }, undefined)).toMatchObject({ result: "fail", reason: "file_missing" });
  expect(judgeDigest(A, { ok: false, error: { code: "EISDIR" } }, "/m")).toMatchObject({ result: "fail", reason: "unreadable", detail: "cannot read /m: EISDIR" });
});

test("verifyWarnings lists what is missing, and nothing for a complete entry", () => {
  expect(verifyWarnings({ signatures: [] })).toEqual(["no expected digest provided; proceeding with warnings", "no verified signature", "no SBOM"]);
  expect(verifyWarnings({ digest: A, signatures: [{ verified: true }], sbom: {} })).toEqual([]);
});
