// Few, tagged errors for the actor kernel. Each has a literal `code` so callers switch on it.

export const RUNTIME_ERROR_CODES = [
  "ASK_TIMEOUT",
  "MAILBOX_FULL",
  "ACTOR_STOPPED",
  "ACTOR_FAILED",
  "UNREACHABLE",
  /** A message or reply that crossed a transport could not be decoded. */
  "INVALID_MESSAGE",
] as const;
export type RuntimeErrorCode = (typeof RUNTIME_ERROR_CODES)[number];

/** Whether a code that came from elsewhere (a peer's reply) is one of ours. */
export function isRuntimeErrorCode(code: unknown): code is RuntimeErrorCode {
  return typeof code === "string" && (RUNTIME_ERROR_CODES as readonly string[]).includes(code);
}

export class RuntimeError extends Error {
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "RuntimeError";
  }
}

/** The ask's deadline passed before a reply arrived. */
export class AskTimeoutError extends RuntimeError {
  constructor(path: string, type: string, timeoutMs: number) {
    super("ASK_TIMEOUT", `ask ${type} to ${path} got no reply within ${timeoutMs} ms`);
  }
}

/** The receiver's mailbox refused the message. */
export class MailboxFullError extends RuntimeError {
  constructor(path: string, type: string) {
    super("MAILBOX_FULL", `mailbox of ${path} is full; ${type} refused`);
  }
}

/** The receiver is not running (never started, stopped, or between restarts). */
export class ActorStoppedError extends RuntimeError {
  constructor(path: string, type: string) {
    super("ACTOR_STOPPED", `${path} is not running; ${type} not delivered`);
  }
}

/** The receiver crashed while handling the message. */
export class ActorFailedError extends RuntimeError {
  constructor(path: string, type: string, cause: unknown) {
    super("ACTOR_FAILED", `${path} failed while handling ${type}: ${describe(cause)}`);
  }
}

/** A remote peer could not be reached (link down). */
export class UnreachableError extends RuntimeError {
  constructor(path: string, type: string, why: string) {
    super("UNREACHABLE", `${path} is unreachable (${why}); ${type} not delivered`);
  }
}

export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
