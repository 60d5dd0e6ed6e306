// Bearer-token auth (auth-min): parse, constant-time compare, identities, loopback rules. A
// client presents either the single legacy token (identity `token:<fp6>`) or one of the named
// client keys (identity `key:<name>`). A token never reaches logs, errors or metrics; only its
// fp6 or its key's name does.

import { createHash, timingSafeEqual } from "node:crypto";

export const MIN_TOKEN_LENGTH = 16;
const MAX_HEADER_BYTES = 8192;

export type BearerResult = { ok: true; token: string } | { ok: false };

export function parseBearer(header: string | null | undefined): BearerResult {
  if (!header || header.length > MAX_HEADER_BYTES) return { ok: false };
  const value = header.trim();
  // The scheme is case-insensitive (RFC 9110 §11.1): bearer, BEARER and Bearer all count.
  const scheme = /^bearer[ \t]+/i.exec(value);
  if (!scheme) return { ok: false };
  const token = value.slice(scheme[0].length).trim();
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

/** The named client keys: who a presented token belongs to, or undefined. */
export interface KeyLookup {
  lookup(token: string): { name: string } | undefined;
}

/**
 * What a client may present: the legacy token and/or named keys. Auth is on when either is
 * configured; a key set that is configured but empty (every key revoked) refuses everyone.
 */
export interface ClientCredentials {
  token?: string;
  keys?: KeyLookup;
}

/** A plain string is the legacy token alone, as before named keys. */
export type Credentials = string | ClientCredentials | undefined;

function credentialsOf(creds: Credentials): ClientCredentials {
  return typeof creds === "string" ? { token: creds } : (creds ?? {});
}

export function authEnabled(creds: Credentials): boolean {
  const c = credentialsOf(creds);
  return Boolean(c.token) || c.keys !== undefined;
}

/** Identifies a presented token: the legacy token first, then the named keys (one hash lookup). */
export function identifyToken(presented: string, creds: Credentials): { ok: boolean; identity: string } {
  const c = credentialsOf(creds);
  if (c.token && tokensEqual(presented, c.token)) return { ok: true, identity: `token:${tokenFp6(c.token)}` };
  const key = c.keys?.lookup(presented);
  if (key) return { ok: true, identity: `key:${key.name}` };
  return { ok: false, identity: `token:${tokenFp6(presented)}` };
}

/** Decides one request. No token and no keys means auth is off. */
export function authorize(
  header: string | null | undefined,
  creds: Credentials,
  opts: { optional?: boolean; remoteLoopback?: boolean } = {},
): AuthOutcome {
  if (!authEnabled(creds)) return { ok: true, identity: "localhost" };
  if (opts.optional && opts.remoteLoopback) return { ok: true, identity: "localhost" };
  const bearer = parseBearer(header);
  if (!bearer.ok) return { ok: false, code: "MISSING_TOKEN", identity: "anonymous" };
  const who = identifyToken(bearer.token, creds);
  return who.ok ? { ok: true, identity: who.identity } : { ok: false, code: "BAD_TOKEN", identity: who.identity };
}
