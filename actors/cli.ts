// Shared pieces of the entry points: address parsing, environment reading, start-up refusal with
// exit code 2, graceful stop on SIGTERM/SIGINT, `--help`/`-h` and `--version`, and the log format
// (LLORCH_LOG_FORMAT: JSON lines for services, text on a terminal, where a start-up error is one
// plain sentence).

import { createLogger, RealClock, type Logger, type LogFormat, type LogLevel } from "../runtime/index.ts";
import { isLoopbackHost, MIN_TOKEN_LENGTH } from "../adapters/http/index.ts";

export { MIN_TOKEN_LENGTH };

export const VERSION = "0.1.0";

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export function parseAddr(addr: string, what: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535 || addr.length > 256) throw new UsageError(`${what}: expected HOST:PORT, got '${addr}'`);
  return { hostname: (m[1] ?? m[2])!, port };
}

export function envInt(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer ≥ ${min}, got '${raw}'`);
  return n;
}

export function envBool(name: string): boolean {
  const raw = (process.env[name] ?? "").toLowerCase();
  return raw === "1" || raw === "true" || raw === "yes";
}

/** LLORCH_API_TOKEN (alias AUTH_TOKEN); refused when shorter than 16 characters. */
export function apiToken(): string | undefined {
  const token = process.env.LLORCH_API_TOKEN || process.env.AUTH_TOKEN || undefined;
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new UsageError(`LLORCH_API_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters`);
  }
  return token;
}

/**
 * LLORCH_NODE_TOKEN: the credential nodes join with, apart from the clients' token. Refused when
 * shorter than 16 characters or equal to LLORCH_API_TOKEN (then it would separate nothing).
 */
export function nodeToken(): string | undefined {
  const token = process.env.LLORCH_NODE_TOKEN || undefined;
  if (token === undefined) return undefined;
  if (token.length < MIN_TOKEN_LENGTH) throw new UsageError(`LLORCH_NODE_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters`);
  if (token === (process.env.LLORCH_API_TOKEN || process.env.AUTH_TOKEN)) throw new UsageError("LLORCH_NODE_TOKEN must differ from LLORCH_API_TOKEN");
  return token;
}

/**
 * A non-loopback bind without credentials is refused (docs/contract.md#auth-and-binding). The
 * control plane needs one for clients (the token or named keys) and one for nodes (the node token
 * or the token); a node's own HTTP needs the token.
 */
export function checkBind(hostname: string, token: string | undefined, control?: { keys: boolean; nodeToken: boolean }): void {
  if (isLoopbackHost(hostname)) return;
  const clients = token !== undefined || control?.keys === true;
  const nodes = token !== undefined || control?.nodeToken === true;
  if (!clients || !nodes) {
    const need = control ? (clients ? "LLORCH_NODE_TOKEN (or LLORCH_API_TOKEN) for the node link" : "LLORCH_API_TOKEN or client keys (LLORCH_API_KEYS, LLORCH_API_KEYS_FILE)") : "LLORCH_API_TOKEN";
    throw new UsageError(`refusing to bind non-loopback address ${hostname} without ${need}; set a token of at least ${MIN_TOKEN_LENGTH} characters`);
  }
}

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** LLORCH_LOG_FORMAT: `json` or `text`; unset (or empty) = text when stderr is a terminal, else json. */
export function logFormat(env: Record<string, string | undefined> = process.env, tty = process.stderr.isTTY === true): LogFormat {
  const raw = env.LLORCH_LOG_FORMAT?.trim().toLowerCase();
  if (raw === undefined || raw === "") return tty ? "text" : "json";
  if (raw === "json" || raw === "text") return raw;
  throw new UsageError(`LLORCH_LOG_FORMAT must be 'json' or 'text', got '${env.LLORCH_LOG_FORMAT}'`);
}

/** LLORCH_LOG_LEVEL: debug, info (default), warn or error. */
export function logLevel(env: Record<string, string | undefined> = process.env): LogLevel {
  const raw = env.LLORCH_LOG_LEVEL?.trim().toLowerCase();
  if (raw === undefined || raw === "") return "info";
  if ((LOG_LEVELS as readonly string[]).includes(raw)) return raw as LogLevel;
  throw new UsageError(`LLORCH_LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got '${env.LLORCH_LOG_LEVEL}'`);
}

/** How this process reports: its name in plain sentences, its format, and a bad log setting to refuse the start with. */
const processInfo: { name: string; format: LogFormat; refused?: UsageError } = { name: "llama-orch", format: "json" };

/** The process's logger (`service` names the program: control, node, dev). */
export function processLogger(fields: Record<string, unknown>): Logger {
  if (typeof fields.service === "string") processInfo.name = `llama-orch ${fields.service}`;
  let level: LogLevel = "info";
  let format: LogFormat = process.stderr.isTTY === true ? "text" : "json";
  try {
    format = logFormat();
    level = logLevel();
  } catch (error) {
    // Refused by runMain (exit 2) before anything starts; the logger works meanwhile.
    processInfo.refused = error as UsageError;
  }
  processInfo.format = format;
  return createLogger({ clock: new RealClock(), level, fields, format });
}

/** `--help`/`-h` prints the usage and `--version` prints `llama-orch <version>`; both exit 0. */
export function helpOrVersion(values: { help?: boolean; version?: boolean }, usage: string): void {
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  if (values.version) {
    console.log(`llama-orch ${VERSION}`);
    process.exit(0);
  }
}

/** The flags every entry point takes, for node:util parseArgs. */
export const COMMON_FLAGS = { help: { type: "boolean", short: "h" }, version: { type: "boolean" } } as const;

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "it is a directory",
  ENOTDIR: "a part of the path is not a directory",
  EADDRINUSE: "the address is already in use",
  EADDRNOTAVAIL: "the address is not on this machine",
  EMFILE: "too many open files",
};

/** A system error in words (`no such file`), else its message. */
export function errnoText(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return (typeof code === "string" && ERRNO_TEXT[code]) || (error as Error).message;
}

/** One plain sentence for a person at a terminal: the program, then what went wrong. */
export function plainStartupError(error: unknown, usage: boolean): string {
  const e = error as Error & { code?: unknown };
  const code = String(e.code ?? "");
  let message = e.message;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const option = /'([^']+)'/.exec(message)?.[1];
    message = option ? `unknown option '${option}' (see --help)` : message;
  } else if (code === "EADDRINUSE") {
    const port = /port (\d+)/.exec(message)?.[1];
    message = port ? `cannot listen on port ${port}: the address is already in use` : `cannot listen: ${errnoText(e)}`;
  } else if (!usage) {
    message = `cannot start: ${message}`;
  }
  return `${processInfo.name}: ${message}`;
}

/** For the root supervisor giving up: log and exit 1 so the service manager restarts us. */
export function exitOnFatal(log: Logger): (reason: string) => void {
  return (reason) => {
    log.error(`The root supervisor gave up (${reason}); exiting`, { event: "fatal" });
    process.exit(1);
  };
}

/**
 * Runs `main`; usage and config errors exit 2, anything else exits 1. With the json format the
 * reason is a log line (`event: startup_refused` for exit 2); with text it is one plain sentence.
 */
export async function runMain(log: Logger, main: () => Promise<() => Promise<void>>): Promise<void> {
  let stop: () => Promise<void>;
  try {
    if (processInfo.refused) throw processInfo.refused;
    stop = await main();
  } catch (error) {
    const code = String((error as { code?: unknown }).code ?? "");
    const usage = error instanceof UsageError || (error as Error).name === "ConfigError" || code.startsWith("ERR_PARSE_ARGS");
    if (processInfo.format === "text") process.stderr.write(plainStartupError(error, usage) + "\n");
    else if (usage) log.error((error as Error).message, { event: "startup_refused" });
    else log.error(`Start-up failed: ${(error as Error).message}`);
    process.exit(usage ? 2 : 1);
  }
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`Received ${signal}; shutting down`);
    stop().then(
      () => process.exit(0),
      (error) => {
        log.error(`Shutdown failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
}
