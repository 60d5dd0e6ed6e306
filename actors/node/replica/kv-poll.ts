// When a replica reads its engine's KV cache use: beside a health poll that found the engine
// ready, one read at a time, and at most every KV_READ_EVERY_MS however often health is polled
// (a llama-server's /slots answer carries every slot's prompt text; it is not read every 500 ms).

import type { Clock } from "../../../runtime/index.ts";
import type { EngineAdapter } from "../../../adapters/engines/index.ts";

export const KV_READ_EVERY_MS = 2000;

export interface KvPoll {
  /** The read to start now, or undefined (the engine never says, one is under way, or too soon). */
  due(): Promise<number | undefined> | undefined;
  /** The read started by `due` is over. */
  done(): void;
}

export function kvPoll(engine: EngineAdapter, clock: Clock, everyMs = KV_READ_EVERY_MS): KvPoll {
  let reading = false;
  let last = -Infinity;
  return {
    due() {
      if (!engine.kvCacheUsage || reading || clock.now() - last < everyMs) return undefined;
      reading = true;
      last = clock.now();
      return engine.kvCacheUsage();
    },
    done() {
      reading = false;
    },
  };
}
