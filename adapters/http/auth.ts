// Bearer-token auth (auth-min): parse, constant-time compare, fp6 identity, loopback rules.
// The token itself never reaches logs, errors or metrics; only its fp6 does.

import { createHash, timingSafeEqual } from "node:crypto";

export const MIN_TOKEN_LENGTH = 16;
const MAX_HEADER_BYTES = 8192;

export type BearerResult = { ok: true; token: string } | { ok: false };

export function parseBearer(header: string | null | undefined): BearerResult {
  if (!header || header.length > MAX_HEADER_BYTES) return { ok: false };
  const value = header.trim();
  if (!value.startsWith("Bearer ")) return { ok: false };
  const token = value.slice("Bearer ".length).trim();
  // biome-ignore lint: control characters are exactly what we refuse
  if (token.length === 0 || /[\u0000-\u001f\u007f]/.test(token)) return { ok: false };
  return { ok: true, token };
}

/** Constant-time equality that does not leak length: both sides are hashed first. */
export function tokensEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** First 6 lowercase hex chars of SHA-256(token): how a token appears in logs. */
export function tokenFp6(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 6);
}

/** Loopback = 127.0.0.0/8, ::1, ::ffff:127.*, localhost (with or without a port). */
export function isLoopbackHost(host: string): boolean {
  if (host.length === 0 || host.length > 256) return false;
  let h = host.trim().toLowerCase();
  if (h.startsWith("[")) h = h.slice(1, h.indexOf("]") > 0 ? h.indexOf("]") : undefined);
  else if (h.split(":").length === 2) h = h.split(":")[0]!; // host:port
  if (h === "localhost" || h === "::1") return true;
  if (h.startsWith("::ffff:")) h = h.slice("::ffff:".length);
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export type AuthOutcome =
  | { ok: true; identity: string }
  | { ok: false; code: "MISSING_TOKEN" | "BAD_TOKEN"; identity: string };

/** Decides one request. `token` undefined means auth is off. */
export function authorize(
  header: string | null | undefined,
  token: string | undefined,
  opts: { optional?: boolean; remoteLoopback?: boolean } = {},
): AuthOutcome {
  if (!token) return { ok: true, identity: "localhost" };
  if (opts.optional && opts.remoteLoopback) return { ok: true, identity: "localhost" };
  const bearer = parseBearer(header);
  if (!bearer.ok) return { ok: false, code: "MISSING_TOKEN", identity: "anonymous" };
  if (!tokensEqual(bearer.token, token)) return { ok: false, code: "BAD_TOKEN", identity: `token:${tokenFp6(bearer.token)}` };
  return { ok: true, identity: `token:${tokenFp6(token)}` };
}
