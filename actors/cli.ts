// Shared pieces of the entry points: address parsing, environment reading, start-up refusal with
// exit code 2, and graceful stop on SIGTERM/SIGINT.

import { createLogger, RealClock, type Logger } from "../runtime/index.ts";
import { isLoopbackHost, MIN_TOKEN_LENGTH } from "../adapters/http/index.ts";

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

/** A non-loopback bind without a token is refused (docs/contract.md#auth-and-binding). */
export function checkBind(hostname: string, token: string | undefined): void {
  if (!isLoopbackHost(hostname) && !token) {
    throw new UsageError(`refusing to bind non-loopback address ${hostname} without LLORCH_API_TOKEN; set a token of at least ${MIN_TOKEN_LENGTH} characters`);
  }
}

export function processLogger(fields: Record<string, unknown>): Logger {
  const level = (process.env.LLORCH_LOG_LEVEL as "debug" | "info" | "warn" | "error" | undefined) ?? "info";
  return createLogger({ clock: new RealClock(), level, fields });
}

/** For the root supervisor giving up: log and exit 1 so the service manager restarts us. */
export function exitOnFatal(log: Logger): (reason: string) => void {
  return (reason) => {
    log.error(`The root supervisor gave up (${reason}); exiting`, { event: "fatal" });
    process.exit(1);
  };
}

/** Runs `main`; usage errors exit 2 with the message, anything else exits 1. */
export async function runMain(log: Logger, main: () => Promise<() => Promise<void>>): Promise<void> {
  let stop: () => Promise<void>;
  try {
    stop = await main();
  } catch (error) {
    const code = String((error as { code?: unknown }).code ?? "");
    if (error instanceof UsageError || (error as Error).name === "ConfigError" || code.startsWith("ERR_PARSE_ARGS")) {
      log.error((error as Error).message, { event: "startup_refused" });
      process.exit(2);
    }
    log.error(`Start-up failed: ${(error as Error).message}`);
    process.exit(1);
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
