// EngineSupervisor: the pure engine restart policy wired to logs, metrics and the pool's note
// (breaker open, a start while open is its probe, the stable check closes it).

import { expect, test } from "bun:test";
import { createLogger, SimClock } from "../../../runtime/index.ts";
import { createNodeMetrics, parseExposition } from "../../../adapters/metrics/index.ts";
import { EngineSupervisor } from "./engine-supervisor.ts";

const log = createLogger({ clock: new SimClock(), sink: () => {} });
const oom = { kind: "out_of_memory", which: "vram", detail: "cudaMalloc failed" } as const;

test("crashes open the breaker; an engine started anyway (a reload) is its probe and the stable check is not due at once", async () => {
  const metrics = createNodeMetrics();
  const notes: string[] = [];
  const sup = new EngineSupervisor({ nodeId: "n1", poolId: "p0", log, metrics, note: (n) => notes.push(n), config: { breaker: { threshold: 2 }, backoff: { jitter: 0 } } });
  let now = 1_000_000;
  expect(sup.crashed(oom, now, 0.5)).toBeGreaterThan(0);
  now += 5000;
  const wait = sup.crashed(oom, now, 0.5);
  expect(wait).toBeGreaterThanOrEqual(60_000); // open: the next try waits for the half-open time
  expect(notes.at(-1)).toContain("circuit breaker open");
  expect(sup.snapshot().breakers.cuda.phase).toBe("open");
  const { samples } = parseExposition(await metrics.registry.metrics());
  expect(samples.find((s) => s.name === "circuit_breaker_state" && s.labels.class === "cuda")?.value).toBe(1);

  // A reload starts the engine before the breaker's time: it becomes the probe.
  now += 1000;
  const check = sup.started(now);
  expect(sup.snapshot().breakers.cuda.phase).toBe("half_open");
  expect(check).toBeGreaterThan(0);
  now += check!;
  sup.stable(now);
  expect(sup.snapshot().breakers.cuda.phase).toBe("closed");
  const after = parseExposition(await metrics.registry.metrics()).samples;
  expect(after.find((s) => s.name === "circuit_breaker_state" && s.labels.class === "cuda")?.value).toBe(0);
});
