// Named client API keys: from a keys file (YAML or JSON) and/or LLORCH_API_KEYS. Each key has a
// name (its identity in logs and metrics: `key:<name>`; the key itself is never shown) and may
// carry its own rate limits. The file is re-read when it changes (checked at most once per
// `recheckMs` on use, and on reload()), so a key is revoked by deleting it from the file.
// Keys are looked up by their SHA-256 in a Map: one hash per request, whatever the number of keys.

import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { z } from "zod";
import type { Clock, Logger } from "../../runtime/index.ts";
import { MIN_TOKEN_LENGTH, type KeyLookup } from "./auth.ts";

/** How often (ms) a lookup may stat the keys file. */
export const KEYS_RECHECK_MS = 1000;
/** A keys file larger than this is refused. */
export const MAX_KEYS_FILE_BYTES = 1024 * 1024;
export const MAX_KEYS = 10_000;
const MAX_KEY_LENGTH = 512;

const KeyName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "key names are 1-64 letters, digits, '.', '_' or '-'");
const KeyValue = z
  .string()
  .min(MIN_TOKEN_LENGTH, `a key needs at least ${MIN_TOKEN_LENGTH} characters`)
  .max(MAX_KEY_LENGTH, `a key has at most ${MAX_KEY_LENGTH} characters`)
  .regex(/^[\x21-\x7e]+$/, "a key is printable ASCII without spaces");

export const ClientKey = z
  .object({
    name: KeyName,
    key: KeyValue,
    /** Task submissions per second for this key (overrides ORCHD_RATE_LIMIT_RPS; 0 = unlimited). */
    rps: z.number().min(0).optional(),
    /** Requested tokens (max_tokens) per minute for this key (overrides ORCHD_RATE_LIMIT_TPM; 0 = unlimited). */
    tpm: z.number().min(0).optional(),
  })
  .strict();
export type ClientKey = z.infer<typeof ClientKey>;

export const ClientKeysFile = z.object({ keys: z.array(ClientKey).max(MAX_KEYS) }).strict();

export class ClientKeysError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function issues(error: z.ZodError): string {
  // Never echo a value: a bad entry may be a real key.
  return error.issues.map((i) => `${i.path.join(".") || "<root>"}: ${i.message}`).join("\n");
}

/** Checks one key set: the schema, unique names and keys, and no key equal to the legacy token. */
function checked(keys: unknown, source: string, legacyToken?: string, taken: ReadonlySet<string> = new Set()): ClientKey[] {
  const parsed = z.array(ClientKey).max(MAX_KEYS).safeParse(keys);
  if (!parsed.success) throw new ClientKeysError(`${source}: invalid client keys\n${issues(parsed.error)}`);
  const names = new Set<string>();
  const values = new Set<string>();
  for (const [i, k] of parsed.data.entries()) {
    if (names.has(k.name)) throw new ClientKeysError(`${source}: keys.${i}.name: duplicate key name '${k.name}'`);
    if (values.has(k.key)) throw new ClientKeysError(`${source}: keys.${i}.key: the same key as an earlier entry`);
    if (legacyToken !== undefined && k.key === legacyToken) throw new ClientKeysError(`${source}: keys.${i}.key: the same as LLORCH_API_TOKEN`);
    if (taken.has(k.key)) throw new ClientKeysError(`${source}: keys.${i}.key: the same key as one in LLORCH_API_KEYS`);
    names.add(k.name);
    values.add(k.key);
  }
  return parsed.data;
}

/** A keys file: `keys: [{name, key, rps?, tpm?}]`, YAML or JSON. */
export function parseKeysFile(text: string, source: string, legacyToken?: string, taken?: ReadonlySet<string>): ClientKey[] {
  let raw: unknown;
  try {
    raw = Bun.YAML.parse(text);
  } catch {
    throw new ClientKeysError(`${source}: not valid YAML/JSON`);
  }
  const file = ClientKeysFile.safeParse(raw ?? {});
  if (!file.success) throw new ClientKeysError(`${source}: invalid client keys file\n${issues(file.error)}`);
  return checked(file.data.keys, source, legacyToken, taken);
}

/** LLORCH_API_KEYS: `name1:key1,name2:key2` (a key may contain ':'; the name may not). */
export function parseKeysEnv(value: string, source = "LLORCH_API_KEYS", legacyToken?: string): ClientKey[] {
  const entries = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const keys = entries.map((entry, i) => {
    const at = entry.indexOf(":");
    if (at <= 0) throw new ClientKeysError(`${source}: entry ${i + 1} is not name:key`);
    return { name: entry.slice(0, at), key: entry.slice(at + 1) };
  });
  return checked(keys, source, legacyToken);
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

export interface KeyLimits {
  rps?: number;
  tpm?: number;
}

export interface ClientKeysOptions {
  /** Keys file path (LLORCH_API_KEYS_FILE / --api-keys-file); re-read when it changes. */
  file?: string;
  /** LLORCH_API_KEYS; fixed for the life of the process. */
  env?: string;
  /** LLORCH_API_TOKEN, which no key may repeat. */
  legacyToken?: string;
  clock: Clock;
  log: Logger;
  recheckMs?: number;
}

interface Entry {
  name: string;
  limits: KeyLimits;
}

/** The live key set. Construct with load(): a bad file or variable at start-up throws. */
export class ClientKeys implements KeyLookup {
  private envKeys: ClientKey[] = [];
  private fileKeys: ClientKey[] = [];
  private byHash = new Map<string, Entry>();
  private byName = new Map<string, Entry>();
  private signature: string | undefined;
  private checkedAt = -Infinity;
  private readonly recheckMs: number;

  private constructor(private readonly options: ClientKeysOptions) {
    this.recheckMs = options.recheckMs ?? KEYS_RECHECK_MS;
  }

  /** undefined when neither a file nor the variable is configured (named keys are off). */
  static load(options: ClientKeysOptions): ClientKeys | undefined {
    if (!options.file && !options.env) return undefined;
    const keys = new ClientKeys(options);
    if (options.env) keys.envKeys = parseKeysEnv(options.env, "LLORCH_API_KEYS", options.legacyToken);
    if (options.file) {
      const read = keys.readFile(options.file);
      keys.fileKeys = read.keys;
      keys.signature = read.signature;
      keys.checkedAt = options.clock.now();
    }
    keys.rebuild();
    return keys;
  }

  lookup(token: string): { name: string } | undefined {
    this.maybeRecheck();
    const entry = this.byHash.get(sha256(token));
    return entry ? { name: entry.name } : undefined;
  }

  /** The limits of `key:<name>` identities; undefined for any other identity or a revoked key. */
  limitsFor(identity: string): KeyLimits | undefined {
    if (!identity.startsWith("key:")) return undefined;
    return this.byName.get(identity.slice(4))?.limits;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /**
   * Re-reads the keys file now (SIGHUP). A file that cannot be read or is invalid revokes every
   * file key until it is fixed: a typo never leaves a key alive that the operator meant to remove.
   */
  reload(reason = "reload"): void {
    const file = this.options.file;
    if (!file) return;
    this.checkedAt = this.options.clock.now();
    try {
      const read = this.readFile(file);
      this.fileKeys = read.keys;
      this.signature = read.signature;
      this.rebuild();
      this.options.log.info(`Client keys reloaded: ${this.byName.size} key(s)`, { event: "client_keys_reloaded", reason, keys: this.names() });
    } catch (error) {
      this.fileKeys = [];
      this.signature = this.statSignature(file);
      this.rebuild();
      this.options.log.error(`Client keys file refused; its keys are revoked until it is fixed: ${(error as Error).message}`, { event: "client_keys_refused", reason });
    }
  }

  private maybeRecheck(): void {
    const file = this.options.file;
    if (!file) return;
    const now = this.options.clock.now();
    if (now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    if (this.statSignature(file) !== this.signature) this.reload("changed");
  }

  private statSignature(file: string): string {
    try {
      const st = statSync(file);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return "missing";
    }
  }

  private readFile(file: string): { keys: ClientKey[]; signature: string } {
    const signature = this.statSignature(file);
    let text: string;
    try {
      const st = statSync(file);
      if (st.size > MAX_KEYS_FILE_BYTES) throw new ClientKeysError(`${file}: larger than ${MAX_KEYS_FILE_BYTES} bytes`);
      text = readFileSync(file, "utf8");
    } catch (error) {
      if (error instanceof ClientKeysError) throw error;
      throw new ClientKeysError(`${file}: cannot read the client keys file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    return { keys: parseKeysFile(text, file, this.options.legacyToken, new Set(this.envKeys.map((k) => k.key))), signature };
  }

  private rebuild(): void {
    const byHash = new Map<string, Entry>();
    const byName = new Map<string, Entry>();
    for (const k of [...this.envKeys, ...this.fileKeys]) {
      // The same name in the variable and the file is one identity: the file's entry wins.
      const entry: Entry = { name: k.name, limits: { rps: k.rps, tpm: k.tpm } };
      const old = byName.get(k.name);
      if (old) for (const [h, e] of byHash) if (e === old) byHash.delete(h);
      byHash.set(sha256(k.key), entry);
      byName.set(k.name, entry);
    }
    this.byHash = byHash;
    this.byName = byName;
  }
}
