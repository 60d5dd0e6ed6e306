import { describe, expect, test } from "bun:test";
import { UsageError } from "../cli.ts";
import { heartbeatIntervalMs, withNodeUpstreamAliases } from "./config.ts";

describe("node environment: upstream variable names", () => {
  test("the heartbeat interval defaults to 10 s", () => {
    expect(heartbeatIntervalMs({})).toBe(10_000);
    expect(heartbeatIntervalMs({ POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "" })).toBe(10_000);
  });

  test("ours is read in seconds", () => {
    expect(heartbeatIntervalMs({ POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "3" })).toBe(3000);
  });

  test("upstream's ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS sets it when ours is unset", () => {
    expect(heartbeatIntervalMs({ ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS: "4" })).toBe(4000);
    expect(withNodeUpstreamAliases({ ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS: "4" }).POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS).toBe("4");
  });

  test("both set to the same value is fine; to different values refuses start-up", () => {
    expect(heartbeatIntervalMs({ ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS: "5", POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "5" })).toBe(5000);
    const both = () => heartbeatIntervalMs({ ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS: "5", POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "6" });
    expect(both).toThrow(UsageError);
    expect(both).toThrow("POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS and its upstream name ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS are both set, to different values");
  });

  test("a bad value names the variable it came from", () => {
    expect(() => heartbeatIntervalMs({ ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS: "0" })).toThrow("ORCHESTRATORD_HEARTBEAT_INTERVAL_SECS must be an integer ≥ 1, got '0'");
    expect(() => heartbeatIntervalMs({ POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "1.5" })).toThrow("POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS must be an integer ≥ 1, got '1.5'");
  });

  test("other variables pass through untouched", () => {
    const env = { ORCHESTRATORD_URL: "http://c:8080", POOL_MANAGERD_NODE_ID: "n1" };
    expect(withNodeUpstreamAliases(env)).toEqual(env);
  });
});
