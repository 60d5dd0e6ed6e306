import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkBind } from "../cli.ts";
import { controlSettings, parseControlConfig } from "./config.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "control-config-"));
  dirs.push(dir);
  const path = join(dir, "control.yaml");
  writeFileSync(path, text);
  return path;
}

test("unknown keys are refused with their path", () => {
  expect(() => parseControlConfig("admission:\n  capacity: 4\n  polcy: reject\n", "c.yaml")).toThrow(/admission: .*polcy/s);
  expect(() => parseControlConfig("auth:\n  token: x\n", "c.yaml")).toThrow(/auth/); // secrets never live in the file
  expect(() => parseControlConfig("admission: {capacity: 0}", "c.yaml")).toThrow(/admission.capacity/);
});

test("flags win over the environment, the environment over the file, the file over defaults", () => {
  const path = file("addr: 127.0.0.1:9000\nadmission: {capacity: 7, policy: drop-lru, rate_limits: {rps: 5}}\ntimeouts: {idle_ms: 500}\n");
  const fromFile = controlSettings({ config: path }, {});
  expect(fromFile).toMatchObject({ port: 9000, capacity: 7, policy: "drop-lru", rateLimits: { rps: 5 }, timeouts: { idle_ms: 500 } });
  const fromEnv = controlSettings({ config: path }, { ORCHD_ADDR: "127.0.0.1:9001", ORCHD_ADMISSION_CAPACITY: "3", ORCHD_ADMISSION_POLICY: "reject" });
  expect(fromEnv).toMatchObject({ port: 9001, capacity: 3, policy: "reject" });
  expect(controlSettings({ config: path, addr: "127.0.0.1:9002" }, { ORCHD_ADDR: "127.0.0.1:9001" }).port).toBe(9002);
  const defaults = controlSettings({}, {});
  expect(defaults).toMatchObject({ hostname: "127.0.0.1", port: 8080, capacity: 256, policy: "reject", nodeTimeoutMs: 30_000, retryAfterMs: 1000 });
});

test("the retry hint of retriable errors: ORCHD_RETRY_AFTER_MS over admission.retry_after_ms over 1000 ms", () => {
  const path = file("admission: {retry_after_ms: 1500}\n");
  expect(controlSettings({ config: path }, {}).retryAfterMs).toBe(1500);
  expect(controlSettings({ config: path }, { ORCHD_RETRY_AFTER_MS: "250" }).retryAfterMs).toBe(250);
  expect(() => controlSettings({}, { ORCHD_RETRY_AFTER_MS: "0" })).toThrow(/ORCHD_RETRY_AFTER_MS/);
  expect(() => parseControlConfig("admission: {retry_after_ms: -1}", "c.yaml")).toThrow(/admission.retry_after_ms/);
});

test("bad values are start-up errors that name the variable", () => {
  expect(() => controlSettings({}, { ORCHD_ADMISSION_POLICY: "shed-low-priority" })).toThrow(/ORCHD_ADMISSION_POLICY/);
  expect(() => controlSettings({}, { ORCHD_ADMISSION_CAPACITY: "0" })).toThrow(/ORCHD_ADMISSION_CAPACITY/);
  expect(() => controlSettings({ config: "/nonexistent/control.yaml" }, {})).toThrow(/cannot read/);
  // Empty variables count as unset.
  expect(controlSettings({}, { ORCHD_ADMISSION_POLICY: "", ORCH_ARTIFACTS_FS_ROOT: "" })).toMatchObject({ policy: "reject", artifactsRoot: undefined });
  expect(() => controlSettings({}, { ORCHD_RETENTION_MAX_BYTES: "10GiB" })).toThrow(/ORCHD_RETENTION_MAX_BYTES/);
  expect(() => parseControlConfig("retention: {max_age_days: 7}", "c.yaml")).toThrow(/retention/);
});

test("the state directory: --state-dir over ORCHD_STATE_DIR over state_dir over XDG_STATE_HOME, else ~/.local/state", () => {
  const path = file("state_dir: /srv/from-file\n");
  expect(controlSettings({ config: path }, {}).stateDir).toBe("/srv/from-file");
  expect(controlSettings({ config: path }, { ORCHD_STATE_DIR: "/srv/from-env" }).stateDir).toBe("/srv/from-env");
  expect(controlSettings({ config: path, "state-dir": "/srv/from-flag" }, { ORCHD_STATE_DIR: "/srv/from-env" }).stateDir).toBe("/srv/from-flag");
  expect(controlSettings({}, { XDG_STATE_HOME: "/var/lib/x" }).stateDir).toBe("/var/lib/x/llama-orch");
  expect(controlSettings({}, { HOME: "/home/u" }).stateDir).toBe("/home/u/.local/state/llama-orch");
});

test("retention and the store's queue: variables over the file; the old roots are passed on only when set", () => {
  const path = file("retention: {max_age_ms: 3600000, max_bytes: 1000000, interval_ms: 0}\nstore: {queue_high_water: 50}\ncatalog: {root: /old/catalog}\n");
  expect(controlSettings({ config: path }, {})).toMatchObject({
    retention: { maxAgeMs: 3_600_000, maxBytes: 1_000_000, intervalMs: 0 },
    storeQueue: { highWaterItems: 50 },
    catalogRoot: "/old/catalog",
    artifactsRoot: undefined,
  });
  const env = { ORCHD_RETENTION_MAX_AGE_MS: "60000", ORCHD_RETENTION_MAX_BYTES: "10737418240", ORCHD_STORE_QUEUE_HIGH_WATER: "7", ORCH_ARTIFACTS_FS_ROOT: "/old/artifacts" };
  expect(controlSettings({ config: path }, env)).toMatchObject({
    retention: { maxAgeMs: 60_000, maxBytes: 10_737_418_240 },
    storeQueue: { highWaterItems: 7 },
    artifactsRoot: "/old/artifacts",
  });
  expect(controlSettings({}, {})).toMatchObject({ retention: { maxAgeMs: undefined, maxBytes: undefined }, catalogRoot: undefined });
});

test("client keys, the scrape token and TLS: flags over the environment; short secrets refused", () => {
  const keys = controlSettings({ "api-keys-file": "/etc/llorch/keys.yaml" }, { LLORCH_API_KEYS_FILE: "/other.yaml", LLORCH_API_KEYS: "a:0123456789abcdef" });
  expect(keys).toMatchObject({ keysFile: "/etc/llorch/keys.yaml", keysEnv: "a:0123456789abcdef", metricsToken: undefined, tls: undefined });
  expect(controlSettings({}, { LLORCH_API_KEYS_FILE: "/other.yaml" }).keysFile).toBe("/other.yaml");
  expect(controlSettings({}, { LLORCH_METRICS_TOKEN: "scrape-0123456789abcdef" }).metricsToken).toBe("scrape-0123456789abcdef");
  expect(() => controlSettings({}, { LLORCH_METRICS_TOKEN: "short" })).toThrow(/LLORCH_METRICS_TOKEN must be at least 16/);
  expect(() => controlSettings({}, { LLORCH_TLS_CERT: "/x.pem" })).toThrow(/--tls-cert and --tls-key/);
  expect(() => controlSettings({ "tls-cert": "/nonexistent/c.pem", "tls-key": "/nonexistent/k.pem" }, {})).toThrow(/--tls-cert \/nonexistent\/c.pem: cannot read it: ENOENT/);
});

test("a non-loopback bind needs a credential for clients and one for nodes", () => {
  expect(() => checkBind("127.0.0.1", undefined, { keys: false, nodeToken: false })).not.toThrow();
  expect(() => checkBind("0.0.0.0", "t".repeat(16), { keys: false, nodeToken: false })).not.toThrow();
  expect(() => checkBind("0.0.0.0", undefined, { keys: true, nodeToken: true })).not.toThrow();
  expect(() => checkBind("0.0.0.0", undefined, { keys: true, nodeToken: false })).toThrow(/without LLORCH_NODE_TOKEN/);
  expect(() => checkBind("0.0.0.0", undefined, { keys: false, nodeToken: true })).toThrow(/without LLORCH_API_TOKEN or client keys/);
  expect(() => checkBind("0.0.0.0", undefined)).toThrow(/without LLORCH_API_TOKEN;/);
  // The environment read by controlSettings: keys and a node token allow it.
  expect(controlSettings({ addr: "0.0.0.0:0" }, { LLORCH_API_KEYS: `ci:${"k".repeat(16)}`, LLORCH_NODE_TOKEN: "n".repeat(16) })).toMatchObject({ hostname: "0.0.0.0" });
});

test("upstream variable names map onto ours: seconds become milliseconds, ours wins only when they agree", () => {
  const s = controlSettings({}, { ORCHESTRATORD_NODE_TIMEOUT_SECS: "45", ORCHESTRATORD_ADDR: "127.0.0.1:9003" });
  expect(s.nodeTimeoutMs).toBe(45_000);
  expect(s.port).toBe(9003);
  // Both names, same meaning: fine; different values: refused, naming both.
  expect(controlSettings({}, { ORCHESTRATORD_NODE_TIMEOUT_SECS: "2", ORCHESTRATORD_NODE_TIMEOUT_MS: "2000" }).nodeTimeoutMs).toBe(2000);
  expect(() => controlSettings({}, { ORCHESTRATORD_NODE_TIMEOUT_SECS: "2", ORCHESTRATORD_NODE_TIMEOUT_MS: "3000" })).toThrow(
    /ORCHESTRATORD_NODE_TIMEOUT_MS and its upstream name ORCHESTRATORD_NODE_TIMEOUT_SECS/,
  );
  expect(() => controlSettings({}, { ORCHESTRATORD_NODE_TIMEOUT_SECS: "1.5" })).toThrow(/ORCHESTRATORD_NODE_TIMEOUT_SECS must be an integer ≥ 1/);
  // A flag still wins over either variable; the TLS names reach the same checks as ours.
  expect(controlSettings({ addr: "127.0.0.1:9004" }, { ORCHESTRATORD_ADDR: "127.0.0.1:9003" }).port).toBe(9004);
  expect(() => controlSettings({}, { ORCHESTRATORD_TLS_CERT: "/x.pem" })).toThrow(/--tls-cert and --tls-key/);
});
