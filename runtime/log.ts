// JSON Lines logger: one object per line with `ts`, `level`, `msg` (a short human sentence) and
// taxonomy fields. Passed in, never global; the sink is injectable so tests capture lines.

import type { Clock } from "./clock.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;
export type LogSink = (line: string) => void;

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
}): Logger {
  const sink = options.sink ?? ((line: string) => process.stderr.write(line + "\n"));
  const min = ORDER[options.level ?? "info"];
  const base = options.fields ?? {};
  const write = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (ORDER[level] < min) return;
    const record = { ts: new Date(options.clock.now()).toISOString(), level, ...base, ...fields, msg };
    sink(JSON.stringify(record));
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}
