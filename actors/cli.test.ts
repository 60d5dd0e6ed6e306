import { expect, test } from "bun:test";
import { errnoText, logFormat, logLevel, plainStartupError, UsageError } from "./cli.ts";

test("LLORCH_LOG_FORMAT: text on a terminal, json otherwise, unless set; bad values are refused", () => {
  expect(logFormat({}, true)).toBe("text");
  expect(logFormat({}, false)).toBe("json");
  expect(logFormat({ LLORCH_LOG_FORMAT: "" }, true)).toBe("text");
  expect(logFormat({ LLORCH_LOG_FORMAT: "json" }, true)).toBe("json");
  expect(logFormat({ LLORCH_LOG_FORMAT: "Text" }, false)).toBe("text");
  expect(() => logFormat({ LLORCH_LOG_FORMAT: "xml" }, false)).toThrow(UsageError);
  expect(logLevel({})).toBe("info");
  expect(logLevel({ LLORCH_LOG_LEVEL: "DEBUG" })).toBe("debug");
  expect(() => logLevel({ LLORCH_LOG_LEVEL: "verbose" })).toThrow(/LLORCH_LOG_LEVEL must be one of debug, info, warn, error/);
});

test("start-up errors in one plain sentence", () => {
  const errno = (code: string, message: string) => Object.assign(new Error(message), { code });
  expect(errnoText(errno("ENOENT", "ENOENT: no such file or directory, open '/x'"))).toBe("no such file");
  expect(errnoText(new Error("other"))).toBe("other");
  expect(plainStartupError(new UsageError("--addr: expected HOST:PORT, got 'x'"), true)).toBe("llama-orch: --addr: expected HOST:PORT, got 'x'");
  const unknown = errno("ERR_PARSE_ARGS_UNKNOWN_OPTION", "Unknown option '--bogus'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- \"--bogus\"");
  expect(plainStartupError(unknown, true)).toBe("llama-orch: unknown option '--bogus' (see --help)");
  expect(plainStartupError(errno("EADDRINUSE", "Failed to start server. Is port 8080 in use?"), false)).toBe("llama-orch: cannot listen on port 8080: the address is already in use");
  expect(plainStartupError(new Error("the state database is locked"), false)).toBe("llama-orch: cannot start: the state database is locked");
});
