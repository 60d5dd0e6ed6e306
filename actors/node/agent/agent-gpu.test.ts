// The agent's GPU reporting over a real (in-memory) link on simulated time: registration carries
// the node's inventory, heartbeats carry the latest GPU sample without a sample forcing one, and
// the real NVML binding on the fake library feeds the gpu-monitor all the way to the heartbeat.

import { afterEach, expect, test } from "bun:test";
import { ActorSystem, createLogger, SimClock, type ActorFactory } from "../../../runtime/index.ts";
import { memoryLinkPair, RemoteEndpoint, type MemoryLink } from "../../../adapters/transport/index.ts";
import type { NodeCapabilities } from "../../../contract/index.ts";
import { createNodeMetrics, parseExposition } from "../../../adapters/metrics/index.ts";
import { openNvml, type GpuProbe } from "../../../host/index.ts";
import { buildFakeNvml, canBuildFakeNvml, openFakeNvmlControl } from "../../../tests/fixtures/nvml/index.ts";
import { AGENT_PATH, HeartbeatPayload, REGISTRY_PATH, RegisterPayload, type HeartbeatMsg, type RegisterMsg } from "../../../contract/link.ts";
import { gpuMonitor, hostInventory, nodeCapabilities } from "../gpu/index.ts";
import { nodeAgent } from "./agent.ts";
import type { AgentInternalMsg, AgentInternalRef, AgentReplies } from "./protocol.ts";

const GIB = 1024 ** 3;
const HEARTBEAT_MS = 1000;
const HOST = { cpuCores: () => 16, ramTotalBytes: () => 64 * GIB };
const haveGcc = canBuildFakeNvml();
if (!haveGcc) console.warn("actors/node/agent/agent-gpu.test.ts: NVML test skipped, gcc is not on PATH to build the fake NVML library");

const systems: ActorSystem[] = [];
const probes: GpuProbe[] = [];
const links: MemoryLink[] = [];
afterEach(async () => {
  for (const l of links.splice(0)) l.close("test over");
  for (const s of systems.splice(0)) await s.shutdown();
  for (const p of probes.splice(0)) p.close();
});

/** A node agent (no pools) linked to a stand-in registry that records what it hears. */
async function setup(capabilities?: () => NodeCapabilities) {
  const clock = new SimClock(1_000);
  const node = new ActorSystem({ name: "node", clock });
  const control = new ActorSystem({ name: "control", clock });
  systems.push(node, control);
  const log = createLogger({ clock, sink: () => {} });
  const registers: RegisterMsg[] = [];
  const heartbeats: HeartbeatMsg[] = [];
  const registry: ActorFactory<RegisterMsg | HeartbeatMsg> = () => ({
    receive(msg) {
      if (msg.type === "register") {
        registers.push(msg);
        return { ok: true, heartbeat_ms: HEARTBEAT_MS, message: "ok" };
      }
      heartbeats.push(msg);
      return undefined;
    },
  });
  await control.spawn(REGISTRY_PATH, registry);
  await node.spawn<AgentInternalMsg, AgentReplies>(AGENT_PATH, nodeAgent({ nodeId: "n1", version: "test", pools: new Map(), log, heartbeatMs: HEARTBEAT_MS, capabilities }));
  const agent: AgentInternalRef = node.ref(AGENT_PATH);
  const connect = async () => {
    const [nodeSide, controlSide] = memoryLinkPair();
    links.push(nodeSide);
    new RemoteEndpoint(control, controlSide, { exports: [REGISTRY_PATH] });
    agent.tell({ type: "link-up", endpoint: new RemoteEndpoint(node, nodeSide, { exports: [AGENT_PATH] }) });
    await clock.flush();
    return nodeSide;
  };
  return { clock, node, log, agent, registers, heartbeats, connect };
}

const CAPS: NodeCapabilities = {
  gpus: [{ index: 0, name: "NVIDIA GeForce RTX 3090", vram_total_bytes: 24 * GIB }],
  cpu_cores: 16,
  ram_total_bytes: 64 * GIB,
  driver_version: "550.54.15",
};

test("registration carries the capabilities, read afresh at each registration", async () => {
  let calls = 0;
  const { registers, connect, agent, clock } = await setup(() => ({ ...CAPS, cpu_cores: 16 + calls++ }));
  const first = await connect();
  expect(registers).toHaveLength(1);
  expect(registers[0]!.capabilities).toEqual(CAPS);

  first.close("control restarted");
  agent.tell({ type: "link-down", reason: "control restarted" });
  await clock.flush();
  await connect();
  expect(registers).toHaveLength(2);
  expect(registers[1]!.capabilities).toEqual({ ...CAPS, cpu_cores: 17 });
});

test("a GPU sample rides on the next periodic heartbeat, not an immediate one, and on re-registration", async () => {
  const { clock, agent, heartbeats, registers, connect } = await setup(() => CAPS);
  await connect();
  const sent = heartbeats.length;
  expect(heartbeats.at(-1)!.gpus).toBeUndefined();

  const gpus = [{ index: 0, name: "NVIDIA GeForce RTX 3090", vram_total_bytes: 24 * GIB, vram_used_bytes: 3 * GIB, vram_free_bytes: 21 * GIB, utilization_gpu_percent: 55 }];
  agent.tell({ type: "gpu-sample", gpus });
  await clock.flush();
  expect(heartbeats).toHaveLength(sent);
  await clock.advance(HEARTBEAT_MS);
  expect(heartbeats).toHaveLength(sent + 1);
  expect(heartbeats.at(-1)!.gpus).toEqual(gpus);
  expect(await agent.ask({ type: "status" })).toMatchObject({ gpus });

  agent.tell({ type: "gpu-error", message: "nvmlDeviceGetMemoryInfo failed: NVML_ERROR_GPU_IS_LOST" });
  await clock.flush();
  expect(await agent.ask({ type: "status" })).toMatchObject({ gpu_error: "nvmlDeviceGetMemoryInfo failed: NVML_ERROR_GPU_IS_LOST" });

  // A new link (control plane restarted): the registration reports the sampled GPUs.
  agent.tell({ type: "link-down", reason: "gone" });
  await connect();
  expect(registers.at(-1)!.capabilities).toEqual({ ...CAPS, gpus });
});

test.skipIf(!haveGcc)("NVML through the fake library: inventory in registration, samples in heartbeats and metrics", async () => {
  const path = buildFakeNvml();
  const fake = openFakeNvmlControl(path);
  try {
    fake.configure({
      FAKE_NVML_GPUS: 2,
      FAKE_NVML_DRIVER: "550.54.15",
      FAKE_NVML_VRAM_USED_0: 2 * GIB,
      FAKE_NVML_UTIL_GPU_0: 37,
      FAKE_NVML_NAME_1: "NVIDIA GeForce RTX 3060",
      FAKE_NVML_VRAM_TOTAL_1: 12 * GIB,
      FAKE_NVML_CC_1: "8.9",
    });
    const probe = openNvml({ libraryPath: path });
    probes.push(probe);
    const inventory = hostInventory(probe, HOST);
    const { clock, node, log, agent, registers, heartbeats, connect } = await setup(() => nodeCapabilities(inventory));
    const metrics = createNodeMetrics();
    await node.spawn("node/gpu", gpuMonitor({ probe, intervalMs: HEARTBEAT_MS, agent, metrics, nodeId: "n1", log, host: HOST }));
    await connect();

    expect(registers[0]!.capabilities).toMatchObject({
      cpu_cores: 16,
      ram_total_bytes: 64 * GIB,
      driver_version: "550.54.15",
      gpus: [
        { index: 0, name: "NVIDIA GeForce RTX 3090", vram_total_bytes: 24 * GIB, vram_used_bytes: 2 * GIB, compute_capability: "8.6", utilization_gpu_percent: 37 },
        { index: 1, name: "NVIDIA GeForce RTX 3060", vram_total_bytes: 12 * GIB, vram_used_bytes: 0, compute_capability: "8.9" },
      ],
    });

    fake.configure({ FAKE_NVML_GPUS: 2, FAKE_NVML_VRAM_USED_0: 6 * GIB, FAKE_NVML_UTIL_GPU_0: 90, FAKE_NVML_NAME_1: "NVIDIA GeForce RTX 3060", FAKE_NVML_VRAM_TOTAL_1: 12 * GIB, FAKE_NVML_VRAM_USED_1: GIB });
    await clock.advance(HEARTBEAT_MS);
    // What the control plane's registry checks on arrival.
    expect(RegisterPayload.safeParse({ ...registers[0], agent: undefined }).success).toBe(true);
    expect(HeartbeatPayload.safeParse(heartbeats.at(-1)).success).toBe(true);
    const gpus = heartbeats.at(-1)!.gpus!;
    expect(gpus.map((g) => [g.index, g.name, g.vram_used_bytes, g.vram_free_bytes, g.utilization_gpu_percent])).toEqual([
      [0, "NVIDIA GeForce RTX 3090", 6 * GIB, 18 * GIB, 90],
      [1, "NVIDIA GeForce RTX 3060", GIB, 11 * GIB, 0],
    ]);
    const { samples } = parseExposition(await metrics.registry.metrics());
    expect(samples.find((s) => s.name === "vram_used_bytes" && s.labels.device === "0")?.value).toBe(6 * GIB);
    expect(samples.find((s) => s.name === "gpu_utilization" && s.labels.device === "0")?.value).toBe(90);
  } finally {
    fake.close();
  }
});
