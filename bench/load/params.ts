// Every parameter of the load bench, its default, and its --quick value. Each one is also a flag:
// `--control-seconds 60` sets controlSeconds. --quick applies the quick column first.

import { parseArgs } from "node:util";

export const DEFAULTS = {
  // 1. admission
  connections: 64, // closed loop: concurrent keep-alive connections
  admissionRounds: 2, // rounds of (floor, control), interleaved
  floorSeconds: 10, // per round, the floor at full speed
  controlSeconds: 30, // per round, the control plane at full speed (>= 3 buckets to compare first/last)
  bucketSeconds: 10, // width of the req/s buckets (first vs last)
  warmupSeconds: 2, // full speed on each target before anything is recorded
  rates: "1000,5000", // paced open loop, tasks/s
  pacedSeconds: 10, // per rate and target
  maxConnections: 4096, // paced: cap on the generator's connections
  drainSeconds: 10, // paced: wait for answers after the last scheduled send
  sampleIds: 200, // admitted task ids checked for their end, per control run
  // 2. relay
  relayStreams: 100,
  relayTokens: 1000,
  relayRounds: 5,
  ttftRequests: 300, // then, idle path: sequential single streams per path, interleaved (engine, proxy, v1, v2, ...)
  ttftTokens: 4, // ... of this many tokens each
  ttftGapMs: 5, // ... with this pause after each stream (its after-work settles before the next)
  // 3. scale
  openStreams: 10_000, // (a) concurrent open streams
  openTokens: 10, // (a) tokens per stream ...
  openIntervalMs: 1000, // (a) ... one every this many ms
  openRampMs: 5000, // (a) streams are opened evenly over this
  openClients: 4, // (a) generator processes (sockets spread over them)
  bigStreams: 2000, // (b) concurrent streams ...
  bigTokens: 2000, // (b) ... of this many tokens, as fast as the engine is read
  bigTimeoutSeconds: 150, // (b) streams still open then are stopped and reported
  pacedStreams: 2000, // (c) concurrent streams ...
  pacedRate: 50, // (c) ... each paced at this many tokens/s by the engine
  pacedRunSeconds: 20, // (c) measured for this long once all are open
  pacedRampMs: 2000, // (c)
  scaleQueueCapacity: 20_000, // ORCHD_ADMISSION_CAPACITY for the scale phases (default 256 would refuse a 10k burst)
  // what runs: "" = this working tree; a git ref (HEAD, a commit) = that commit's tree, exported
  // read-only with `git archive` into the temp dir, so edits in progress cannot change the numbers
  codeRef: "",
};

export type Params = typeof DEFAULTS & { quick: boolean; only: string[] };

const QUICK: Partial<typeof DEFAULTS> = {
  connections: 32,
  admissionRounds: 1,
  floorSeconds: 2,
  controlSeconds: 6,
  bucketSeconds: 2,
  warmupSeconds: 1,
  pacedSeconds: 2,
  drainSeconds: 3,
  sampleIds: 30,
  relayStreams: 20,
  relayTokens: 200,
  relayRounds: 1,
  ttftRequests: 50,
  openStreams: 500,
  openTokens: 4,
  openIntervalMs: 500,
  openRampMs: 500,
  openClients: 1,
  bigStreams: 100,
  bigTokens: 200,
  bigTimeoutSeconds: 30,
  pacedStreams: 100,
  pacedRunSeconds: 3,
  pacedRampMs: 300,
};

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const PHASES = ["admission", "relay", "scale"] as const;

export function readParams(argv = Bun.argv.slice(2)): Params {
  const options: Record<string, { type: "string" | "boolean" }> = { quick: { type: "boolean" }, only: { type: "string" }, help: { type: "boolean" } };
  for (const k of Object.keys(DEFAULTS)) options[kebab(k)] = { type: "string" };
  const { values } = parseArgs({ args: argv, options, strict: true });
  if (values.help) {
    console.log(`usage: bun run bench:load [--quick] [--only ${PHASES.join("|")}[,...]] ${Object.keys(DEFAULTS).map((k) => `[--${kebab(k)} ${typeof (DEFAULTS as Record<string, unknown>)[k] === "string" ? "X" : "N"}]`).join(" ")}`);
    process.exit(0);
  }
  const p: Record<string, unknown> = { ...DEFAULTS, ...(values.quick ? QUICK : {}) };
  for (const k of Object.keys(DEFAULTS)) {
    const v = values[kebab(k)];
    if (typeof v !== "string") continue;
    if (typeof (DEFAULTS as Record<string, unknown>)[k] === "string") p[k] = v;
    else if (!Number.isFinite(Number(v)) || Number(v) <= 0) throw new Error(`--${kebab(k)}: expected a positive number, got '${v}'`);
    else p[k] = Number(v);
  }
  const only = typeof values.only === "string" ? values.only.split(",").map((s) => s.trim()) : [...PHASES];
  for (const o of only) if (!(PHASES as readonly string[]).includes(o)) throw new Error(`--only: unknown phase '${o}' (${PHASES.join(", ")})`);
  return { ...(p as typeof DEFAULTS), quick: values.quick === true, only };
}

export const rateList = (p: Params) => p.rates.split(",").map(Number).filter((n) => n > 0);
