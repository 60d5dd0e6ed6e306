// JSON Lines logger: one object per line with `ts`, `level`, `msg` (a short human sentence) and
// taxonomy fields. Passed in, never global; the sink is injectable so tests capture lines. The
// `text` format writes the same record for a person at a terminal:
// `2026-01-02T03:04:05.678Z WARN  msg key=value ...` (strings with spaces or quotes JSON-quoted).

import type { Clock } from "./clock.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;
export type LogSink = (line: string) => void;
export type LogFormat = "json" | "text";

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(options: {
  clock: Clock;
  sink?: LogSink;
  level?: LogLevel;
  fields?: LogFields;
  /** Default json: one JSON object per line. */
  format?: LogFormat;
}): Logger {
  const sink = options.sink ?? ((line: string) => process.stderr.write(line + "\n"));
  const min = ORDER[options.level ?? "info"];
  const base = options.fields ?? {};
  const write = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[level] < min) return;
    const record = { ts: new Date(options.clock.now()).toISOString(), level, ...base, ...fields, msg };
    sink(options.format === "text" ? textLine(record) : JSON.stringify(record));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** A plain value stays bare; one with spaces, quotes or `=`, and any non-string, is JSON. */
function textValue(value: unknown): string {
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** `ts LEVEL msg key=value ...`: the JSON record's content, in the order a person reads it. */
export function textLine(record: { ts: string; level: LogLevel; msg: string } & LogFields): string {
  const { ts, level, msg, ...fields } = record;
  const rest = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}=${textValue(v)}`)
    .join("");
  return `${ts} ${level.toUpperCase().padEnd(5)} ${msg}${rest}`;
}
