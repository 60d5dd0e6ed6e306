// Handoff file parsing: the shapes provisioners write bind, garbage is refused with the file and the
// field named, the file name must agree with the content, and the watcher's environment settings.

import { expect, test } from "bun:test";
import { handoffSettings, parseDeviceMask, parseHandoff, type HandoffParse } from "./parse.ts";

const json = (v: unknown) => JSON.stringify(v);
const refused = (r: HandoffParse) => {
  if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r.handoff)}`);
  return r;
};

test("a full provisioner handoff keeps its fields and derives key, model id and devices", () => {
  const r = parseHandoff(
    "gpu-a-r1.json",
    json({
      engine: "llamacpp",
      engine_version: "llamacpp-source:b3600-cuda",
      provisioning_mode: "source",
      url: "http://127.0.0.1:8081",
      pool_id: "gpu-a",
      replica_id: "r1",
      model: { path: "/models/qwen2-0_5b-instruct-q4_k_m.gguf" },
      flags: ["--parallel", "4"],
      device_mask: "GPU0",
      slots_total: 4,
      slots_free: 3,
      metadata: { size_bytes: 1234, ctx_max: 8192 },
    }),
  );
  expect(r).toEqual({
    ok: true,
    handoff: {
      file: "gpu-a-r1.json",
      key: "gpu-a:r1",
      engine: "llamacpp",
      engine_version: "llamacpp-source:b3600-cuda",
      provisioning_mode: "source",
      url: "http://127.0.0.1:8081",
      pool_id: "gpu-a",
      replica_id: "r1",
      model: { path: "/models/qwen2-0_5b-instruct-q4_k_m.gguf" },
      model_id: "qwen2-0_5b-instruct-q4_k_m.gguf",
      flags: ["--parallel", "4"],
      device_mask: "GPU0",
      devices: [0],
      slots_total: 4,
      slots_free: 3,
      metadata: { size_bytes: 1234, ctx_max: 8192 },
    },
  });
});

test("the minimal file: engine llamacpp, replica r0, model id = pool id, slot counts stay absent", () => {
  const r = parseHandoff("p1-r0.json", json({ url: "https://gpu-box:8443/", pool_id: "p1" }));
  expect(r).toEqual({
    ok: true,
    handoff: { file: "p1-r0.json", key: "p1:r0", engine: "llamacpp", url: "https://gpu-box:8443/", pool_id: "p1", replica_id: "r0", model_id: "p1" },
  });
});

test("model.id wins over the path; free slots are clamped to the total; unknown keys are reported", () => {
  const r = parseHandoff("p-r0.json", json({ url: "http://h:1", pool_id: "p", model: { id: "llama-3-8b", path: "/m/x.gguf" }, slots_total: 2, slots_free: 5, extra: 1, slot_total: 3 }));
  if (!r.ok) throw new Error(r.reason);
  expect(r.handoff.model_id).toBe("llama-3-8b");
  expect(r.handoff.slots_free).toBe(2);
  expect(r.handoff.ignored_keys).toEqual(["extra", "slot_total"]);
});

test("garbage is refused naming the file and the field", () => {
  expect(refused(parseHandoff("p-r0.json", "{not json")).reason).toStartWith("p-r0.json: <root>: not valid JSON");
  expect(refused(parseHandoff("p-r0.json", "[1,2]")).field).toBe("<root>");
  expect(refused(parseHandoff("p-r0.json", "null")).field).toBe("<root>");

  const noUrl = refused(parseHandoff("p-r0.json", json({ pool_id: "p" })));
  expect(noUrl).toMatchObject({ file: "p-r0.json", field: "url", pool_id: "p" });

  const badUrl = refused(parseHandoff("p-r0.json", json({ pool_id: "p", url: "ftp://h/x" })));
  expect(badUrl.field).toBe("url");
  expect(badUrl.reason).toContain("http(s) URL");
  expect(refused(parseHandoff("p-r0.json", json({ pool_id: "p", url: "not a url" }))).field).toBe("url");

  const badId = refused(parseHandoff("p q-r0.json", json({ pool_id: "p q", url: "http://h:1" })));
  expect(badId).toMatchObject({ field: "pool_id", pool_id: undefined });
  expect(refused(parseHandoff("p-r0.json", json({ pool_id: "p", url: "http://h:1", slots_total: 0 }))).field).toBe("slots_total");
  expect(refused(parseHandoff("p-r0.json", json({ pool_id: "p", url: "http://h:1", slots_free: -1 }))).field).toBe("slots_free");
  expect(refused(parseHandoff("p-r0.json", json({ pool_id: "p", url: "http://h:1", flags: "--x" }))).field).toBe("flags");
  expect(refused(parseHandoff("p-r0.json", json({ pool_id: "p", url: "http://h:1", metadata: { ctx_max: "big" } }))).field).toBe("metadata.ctx_max");
  expect(refused(parseHandoff("p-r0.json", json({ pool_id: "p", url: "http://h:1", device_mask: "GPU0,x" }))).field).toBe("device_mask");
});

test("engines other than llamacpp are refused with a clear reason", () => {
  const r = refused(parseHandoff("p-r0.json", json({ engine: "vllm", pool_id: "p", url: "http://h:1" })));
  expect(r.field).toBe("engine");
  expect(r.reason).toBe("p-r0.json: engine: engine 'vllm' cannot be bound from a handoff (supported: llamacpp)");
});

test("the file name must be <pool_id>-<replica_id>.json and agree with the content", () => {
  const r = refused(parseHandoff("engine.json", json({ pool_id: "p", replica_id: "r2", url: "http://h:1" })));
  expect(r).toMatchObject({ field: "file", pool_id: "p" });
  expect(r.reason).toContain("'p-r2.json' for this content");
  // Replica defaults to r0, so p-r1.json without a replica_id does not agree.
  expect(refused(parseHandoff("p-r1.json", json({ pool_id: "p", url: "http://h:1" }))).field).toBe("file");
  // Dashes inside ids are fine: the content decides where the pool id ends.
  expect(parseHandoff("my-pool-r-2.json", json({ pool_id: "my-pool", replica_id: "r-2", url: "http://h:1" })).ok).toBe(true);
});

test("device masks: GPU names or indexes, comma separated, duplicates once", () => {
  expect(parseDeviceMask("GPU0")).toEqual([0]);
  expect(parseDeviceMask("0,1")).toEqual([0, 1]);
  expect(parseDeviceMask("gpu2, GPU1,2")).toEqual([2, 1]);
  expect(parseDeviceMask("")).toBeTypeOf("string");
  expect(parseDeviceMask("cuda:0")).toBeTypeOf("string");
});

test("settings: defaults, the environment, the legacy interval name and bad values", () => {
  expect(handoffSettings({})).toEqual({ intervalMs: 1000, autoDelete: true });
  expect(handoffSettings({ POOL_MANAGERD_WATCH_INTERVAL_MS: "250", POOL_MANAGERD_AUTO_DELETE_HANDOFF: "false" })).toEqual({ intervalMs: 250, autoDelete: false });
  expect(handoffSettings({ ORCHD_HANDOFF_WATCH_INTERVAL_MS: "500" }).intervalMs).toBe(500);
  expect(handoffSettings({ POOL_MANAGERD_WATCH_INTERVAL_MS: "700", ORCHD_HANDOFF_WATCH_INTERVAL_MS: "500" }).intervalMs).toBe(700);
  expect(() => handoffSettings({ POOL_MANAGERD_WATCH_INTERVAL_MS: "0" })).toThrow("POOL_MANAGERD_WATCH_INTERVAL_MS");
  expect(() => handoffSettings({ POOL_MANAGERD_WATCH_INTERVAL_MS: "1s" })).toThrow("positive whole number");
  expect(() => handoffSettings({ POOL_MANAGERD_AUTO_DELETE_HANDOFF: "maybe" })).toThrow("POOL_MANAGERD_AUTO_DELETE_HANDOFF");
});
