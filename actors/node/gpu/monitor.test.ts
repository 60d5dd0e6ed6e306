// The gpu-monitor on simulated time with the TypeScript fake GPUs: it samples at start and every
// interval, publishes the per-device series, tells the agent, reports driver errors once per kind,
// drops and brings back failing devices, survives a crash with its probe, and closes it on stop.

import { afterEach, expect, test } from "bun:test";
import { ActorSystem, createLogger, SimClock, supervisor, type ActorRef } from "../../../runtime/index.ts";
import { createNodeMetrics, parseExposition, type NodeMetrics } from "../../../adapters/metrics/index.ts";
import { NVML, NvmlError, type GpuProbe, type GpuSample } from "../../../host/index.ts";
import { FakeGpuProbe } from "../../../tests/fixtures/nvml/index.ts";
import type { HostFacts } from "./inventory.ts";
import { gpuMonitor, gpuMonitorSpec } from "./monitor.ts";
import type { GpuMonitorMsg, GpuMonitorReplies, GpuReportMsg } from "./protocol.ts";

const GIB = 1024 ** 3;
const INTERVAL = 1000;
const HOST: HostFacts = { cpuCores: () => 8, ramTotalBytes: () => 32 * GIB };

let system: ActorSystem | undefined;
afterEach(async () => {
  await system?.shutdown();
  system = undefined;
});

async function setup(probe: GpuProbe, options: { supervised?: boolean } = {}) {
  const clock = new SimClock(1_000);
  system = new ActorSystem({ name: "gpu-test", clock });
  const lines: Array<{ level: string; msg: string }> = [];
  const log = createLogger({ clock, sink: (l) => lines.push(JSON.parse(l)) });
  const heard: GpuReportMsg[] = [];
  const agent = await system.spawn<GpuReportMsg>("agent", () => ({ receive: (m) => void heard.push(m) }));
  const metrics = createNodeMetrics();
  const monitorOptions = { probe, intervalMs: INTERVAL, agent, metrics, nodeId: "n1", log, host: HOST };
  if (options.supervised) await system.spawn("node", supervisor({ strategy: "one_for_one", children: [gpuMonitorSpec(monitorOptions)] }));
  else await system.spawn("node/gpu", gpuMonitor(monitorOptions));
  await clock.flush();
  const monitor: ActorRef<GpuMonitorMsg, GpuMonitorReplies> = system.ref("node/gpu");
  return { clock, heard, metrics, monitor, lines };
}

async function series(metrics: NodeMetrics, name: string) {
  const { samples } = parseExposition(await metrics.registry.metrics());
  return Object.fromEntries(samples.filter((s) => s.name === name && s.labels.node_id === "n1").map((s) => [s.labels.device!, s.value]));
}

const samples = (heard: GpuReportMsg[]) => heard.filter((m) => m.type === "gpu-sample");

test("samples at start and then every interval: series per device, the agent told with named GPUs", async () => {
  const probe = new FakeGpuProbe({ devices: [{ vram_used_bytes: 2 * GIB, utilization_gpu_percent: 37 }, { name: "NVIDIA GeForce RTX 3060", vram_total_bytes: 12 * GIB }] });
  const { clock, heard, metrics } = await setup(probe);

  expect(heard).toHaveLength(1);
  expect(heard[0]).toEqual({
    type: "gpu-sample",
    gpus: [
      { index: 0, name: "NVIDIA GeForce RTX 3090", uuid: expect.any(String), vram_total_bytes: 24 * GIB, vram_free_bytes: 22 * GIB, vram_used_bytes: 2 * GIB, compute_capability: "8.6", utilization_gpu_percent: 37 },
      { index: 1, name: "NVIDIA GeForce RTX 3060", uuid: expect.any(String), vram_total_bytes: 12 * GIB, vram_free_bytes: 12 * GIB, vram_used_bytes: 0, compute_capability: "8.6", utilization_gpu_percent: 0 },
    ],
  });
  expect(await series(metrics, "gpu_utilization")).toEqual({ "0": 37, "1": 0 });
  expect(await series(metrics, "vram_used_bytes")).toEqual({ "0": 2 * GIB, "1": 0 });
  expect(await series(metrics, "vram_total_bytes")).toEqual({ "0": 24 * GIB, "1": 12 * GIB });

  probe.setVramUsed(1, 5 * GIB);
  probe.setUtilization(1, 90);
  await clock.advance(INTERVAL - 1);
  expect(heard).toHaveLength(1);
  await clock.advance(1);
  expect(heard).toHaveLength(2);
  expect(await series(metrics, "gpu_utilization")).toEqual({ "0": 37, "1": 90 });
  expect(await series(metrics, "vram_used_bytes")).toEqual({ "0": 2 * GIB, "1": 5 * GIB });
  await clock.advance(3 * INTERVAL);
  expect(samples(heard)).toHaveLength(5);
});

test("utilisation NOT_SUPPORTED leaves gpu_utilization out rather than reading 0", async () => {
  const probe = new FakeGpuProbe({ devices: 1 });
  const { clock, heard, metrics } = await setup(probe);
  expect(await series(metrics, "gpu_utilization")).toEqual({ "0": 0 });
  probe.setUtilization(0, undefined);
  await clock.advance(INTERVAL);
  expect(await series(metrics, "gpu_utilization")).toEqual({});
  expect(await series(metrics, "vram_total_bytes")).toEqual({ "0": 24 * GIB });
  expect(heard.at(-1)).toMatchObject({ type: "gpu-sample", gpus: [expect.not.objectContaining({ utilization_gpu_percent: expect.anything() })] });
});

test("a lost GPU is reported, then dropped from samples and series but still reported as a fault; it comes back when it recovers", async () => {
  const probe = new FakeGpuProbe({ devices: 2 });
  const { clock, heard, metrics, monitor } = await setup(probe);
  probe.failDevice(1);
  await clock.advance(INTERVAL);
  expect(heard.at(-1)).toEqual({ type: "gpu-error", message: "nvmlDeviceGetMemoryInfo failed: NVML_ERROR_GPU_IS_LOST" });

  // Still lost: GPU 0 keeps being sampled (its series stay), but the agent hears a fault, not a
  // clean sample, so the pools do not look healthy while a GPU is gone.
  await clock.advance(INTERVAL);
  expect(heard.at(-1)).toEqual({ type: "gpu-error", message: "GPU 1: nvmlDeviceGetMemoryInfo failed: NVML_ERROR_GPU_IS_LOST" });
  expect(Object.keys(await series(metrics, "vram_used_bytes"))).toEqual(["0"]);
  expect((await monitor.ask({ type: "inventory" })).gpu.device_errors).toEqual([
    { index: 1, code: NVML.GPU_IS_LOST, name: "NVML_ERROR_GPU_IS_LOST", message: "nvmlDeviceGetMemoryInfo failed: NVML_ERROR_GPU_IS_LOST" },
  ]);

  probe.recoverDevice(1);
  await clock.advance(INTERVAL);
  expect(heard.at(-1)).toMatchObject({ type: "gpu-sample", gpus: [{ index: 0 }, { index: 1 }] });
  expect(Object.keys(await series(metrics, "vram_used_bytes")).sort()).toEqual(["0", "1"]);
});

/** A driver that fails every sample until told otherwise. */
class FailingProbe extends FakeGpuProbe {
  failWith: Error | null = null;
  once = false;
  override sample(): GpuSample[] {
    const error = this.failWith;
    if (this.once) this.failWith = null;
    if (error) throw error;
    return super.sample();
  }
}

test("a driver error is told to the agent every interval but logged once per kind", async () => {
  const probe = new FailingProbe({ devices: 1 });
  const { clock, heard, lines } = await setup(probe);
  probe.failWith = new NvmlError(NVML.UNKNOWN, "nvmlDeviceGetUtilizationRates");
  await clock.advance(3 * INTERVAL);
  probe.failWith = new NvmlError(NVML.DRIVER_NOT_LOADED, "nvmlDeviceGetMemoryInfo");
  await clock.advance(2 * INTERVAL);
  expect(heard.slice(1).map((m) => m.type)).toEqual(["gpu-error", "gpu-error", "gpu-error", "gpu-error", "gpu-error"]);
  const failures = lines.filter((l) => l.level === "error" && l.msg.startsWith("GPU sampling failed"));
  expect(failures.map((l) => l.msg)).toEqual([
    "GPU sampling failed: nvmlDeviceGetUtilizationRates failed: NVML_ERROR_UNKNOWN",
    "GPU sampling failed: nvmlDeviceGetMemoryInfo failed: NVML_ERROR_DRIVER_NOT_LOADED",
  ]);

  probe.failWith = null;
  await clock.advance(INTERVAL);
  expect(heard.at(-1)).toMatchObject({ type: "gpu-sample", gpus: [{ index: 0 }] });
  expect(lines.some((l) => l.msg === "GPU sampling works again")).toBe(true);
});

test("answers the inventory: GPUs as enumerated, cores and RAM", async () => {
  const { monitor } = await setup(new FakeGpuProbe({ devices: 2, driver_version: "560.1" }));
  const inv = await monitor.ask({ type: "inventory" });
  expect(inv).toMatchObject({ cpu_cores: 8, ram_total_bytes: 32 * GIB, gpu: { available: true, driver_version: "560.1" } });
  expect(inv.gpu.devices.map((d) => d.index)).toEqual([0, 1]);
});

test("a node without GPUs says why in the log and tells the agent empty samples", async () => {
  const { heard, lines, monitor } = await setup(new FakeGpuProbe({ unavailable: "libnvidia-ml.so.1 not found" }));
  expect(heard).toEqual([{ type: "gpu-sample", gpus: [] }]);
  expect(lines).toContainEqual(expect.objectContaining({ level: "warn", msg: "No GPU on this node: libnvidia-ml.so.1 not found" }));
  expect((await monitor.ask({ type: "inventory" })).gpu).toEqual({ available: false, devices: [], reason: "libnvidia-ml.so.1 not found" });
});

test("a crash restarts the monitor with its probe still open; stopping the node closes it", async () => {
  const probe = new FailingProbe({ devices: 1 });
  const { clock, heard } = await setup(probe, { supervised: true });
  const restarts: string[] = [];
  system!.events.on((e) => void (e.type === "restarted" && restarts.push(e.path)));
  probe.failWith = new Error("unexpected");
  probe.once = true;
  await clock.advance(INTERVAL);
  expect(restarts).toEqual(["node/gpu"]);
  expect(probe.closed).toBe(false);
  expect(system!.isAlive("node/gpu")).toBe(true);
  const before = samples(heard).length;
  await clock.advance(INTERVAL);
  expect(samples(heard).length).toBeGreaterThan(before);

  await system!.shutdown();
  expect(probe.closed).toBe(true);
});
