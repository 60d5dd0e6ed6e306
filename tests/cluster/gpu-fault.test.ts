// A GPU driver error while the node runs: the GPU monitor's sample fails, the
// node's GPU pools go unready with the reason, and come back when the driver answers again.

import { afterEach, expect, test } from "bun:test";
import { FakeGpuProbe } from "../fixtures/nvml/index.ts";
import { mockPool, poolOf, startCluster, waitForNodes, type Cluster } from "../harness/cluster.ts";
import { collect, submitTask } from "../harness/sse.ts";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

test("a failing GPU makes the pools unready with the driver's error; recovery makes them ready again", async () => {
  const gpu = new FakeGpuProbe({ devices: 1 });
  cluster = await startCluster({
    nodes: [{ id: "n1", pools: [mockPool("p0", "tiny", { allow_cpu: false })] }],
    heartbeatMs: 100,
    node: { gpu, gpuIntervalMs: 50 },
  });
  const c = cluster;
  await c.ready();

  gpu.failDevice(0);
  const down = await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.ready === false);
  expect(poolOf(down, "n1", "p0")?.last_error).toContain("GPU driver error");
  // It stays down while the device is lost: several more samples (heartbeats) do not clear it.
  let beats = 0;
  await waitForNodes(c, () => ++beats > 6);
  expect(poolOf(await c.control.plane.port.nodes(), "n1", "p0")?.ready).toBe(false);

  gpu.recoverDevice(0);
  await waitForNodes(c, (n) => poolOf(n, "n1", "p0")?.ready === true);
  const t = await submitTask(c.url, { model_ref: "tiny", prompt: "back", max_tokens: 2 });
  expect((await collect(`${c.url}${t.json.streams.sse}`)).frames.at(-1)?.event).toBe("end");
}, 30_000);
