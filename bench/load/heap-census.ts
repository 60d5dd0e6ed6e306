// A preload for measuring where a process's memory goes, e.g. the control plane under the scale
// phase: BENCH_CONTROL_BUN_FLAGS="--preload ./bench/load/heap-census.ts". It writes a census of
// the JS heap (object counts by type, heap size, process.memoryUsage()) before and after a full
// garbage collection to $HEAP_CENSUS_DIR/heap-<tag>-<pid>.json (default: the temp dir):
//   - on SIGUSR2;
//   - or once, HEAP_CENSUS_DELAY_MS (default 1500) after RSS first passes HEAP_CENSUS_RSS_MB.
// HEAP_CENSUS_SNAPSHOT=1 also writes Bun.generateHeapSnapshot() next to it (snap-<tag>-<pid>.json;
// use a few hundred streams: it is large). What "before" minus "after" shows is garbage not yet
// collected; "after" divided by the open streams is the live heap per stream.

import { heapStats } from "bun:jsc";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = process.env.HEAP_CENSUS_DIR ?? tmpdir();
const tag = process.env.HEAP_CENSUS_TAG ?? "census";
const thresholdMb = Number(process.env.HEAP_CENSUS_RSS_MB ?? "0");
const delayMs = Number(process.env.HEAP_CENSUS_DELAY_MS ?? "1500");

function top(counts: Record<string, number>, n: number): [string, number][] {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n);
}

function census(): void {
  const mem = process.memoryUsage();
  const before = heapStats();
  Bun.gc(true);
  const after = heapStats();
  const out = {
    mem,
    before: { heapSize: before.heapSize, objectCount: before.objectCount, top: top(before.objectTypeCounts, 60) },
    after: { heapSize: after.heapSize, objectCount: after.objectCount, top: top(after.objectTypeCounts, 80) },
    memAfter: process.memoryUsage(),
  };
  writeFileSync(join(dir, `heap-${tag}-${process.pid}.json`), JSON.stringify(out, null, 1));
  if (process.env.HEAP_CENSUS_SNAPSHOT === "1") {
    writeFileSync(join(dir, `snap-${tag}-${process.pid}.json`), JSON.stringify(Bun.generateHeapSnapshot()));
  }
}

process.on("SIGUSR2", census);

if (thresholdMb > 0) {
  const watch = setInterval(() => {
    if (process.memoryUsage.rss() <= thresholdMb * 1048576) return;
    clearInterval(watch);
    setTimeout(census, delayMs).unref();
  }, 200);
  watch.unref();
}
