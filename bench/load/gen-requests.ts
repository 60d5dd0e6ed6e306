// Admission load generator, a process of its own (never inside a measured process):
//   closed  N keep-alive connections, each sends the next POST as soon as the last one answered,
//           for D seconds (full speed)
//   open    a fixed timetable of R requests per second for D seconds; a request goes out on an
//           idle connection (new ones are opened as needed, up to a cap) and its latency counts
//           from its SCHEDULED time, so a server that falls behind cannot hide its queue
//           (no coordinated omission)
// Every completed request is recorded ([done_ms, latency_ms, status] as float64 triples, t0-relative) in
// <out>.bin; the summary (statuses, refusals by status and error code, a reservoir sample of
// admitted task ids, sender lag) is the JSON in <out>.json. Usage: bun bench/load/gen-requests.ts '<spec json>'

import { writeFileSync } from "node:fs";
import { H1Conn, postRequest } from "./http1.ts";

export interface RequestGenSpec {
  mode: "closed" | "open";
  host: string;
  port: number;
  path: string;
  body: string;
  durationS: number;
  connections: number; // closed: the connections; open: opened up front
  rate: number; // open: requests per second
  maxConnections: number; // open: cap on connections
  drainS: number; // open: how long to wait for answers after the last send
  sampleMax: number; // task ids kept (reservoir)
  out: string;
}

const spec = JSON.parse(process.argv[2]!) as RequestGenSpec;
const request = postRequest(spec.host, spec.port, spec.path, spec.body);

let rec = new Float64Array(3 << 20);
let nrec = 0;
const statuses: Record<string, number> = {};
const errors: Record<string, number> = {};
// Answers other than 202, by "<status> <code>[ <policy_label>]" (a 503 REPLICA_EXHAUSTED
// store.backlog is the state store refusing new tasks, retriable: a refusal, not an error).
const refusals: Record<string, number> = {};
const samples: { id: string; at_ms: number }[] = [];
let admitted = 0;
let t0 = 0;

function record(doneMs: number, latencyMs: number, status: number, body: string | undefined, error?: string) {
  if (nrec * 3 + 3 > rec.length) {
    const bigger = new Float64Array(rec.length * 2);
    bigger.set(rec);
    rec = bigger;
  }
  rec[nrec * 3] = doneMs;
  rec[nrec * 3 + 1] = latencyMs;
  rec[nrec * 3 + 2] = status;
  nrec++;
  statuses[status] = (statuses[status] ?? 0) + 1;
  if (error) errors[error] = (errors[error] ?? 0) + 1;
  if (status !== 202 && status !== 0) {
    const code = body?.match(/"code":"([^"]+)"/)?.[1] ?? "?";
    const policy = body?.match(/"policy_label":"([^"]+)"/)?.[1];
    const key = `${status} ${code}${policy ? ` ${policy}` : ""}`;
    refusals[key] = (refusals[key] ?? 0) + 1;
  }
  if (status === 202) {
    admitted++;
    // Reservoir sampling over every admitted task; the body is only read for a kept sample.
    const slot = admitted <= spec.sampleMax ? admitted - 1 : Math.floor(Math.random() * admitted);
    if (slot < spec.sampleMax && body) {
      const id = body.match(/"task_id":"([^"]+)"/)?.[1];
      if (id) samples[slot] = { id, at_ms: doneMs };
    }
  }
}

// Bodies are always read (a ~200-byte decode); only a reservoir sample of the ids is kept.
const wantBody = () => true;

const open = () => H1Conn.open(spec.host, spec.port);
let opened = 0;
const lag: number[] = [];

async function closedLoop(): Promise<number> {
  const conns = await Promise.all(Array.from({ length: spec.connections }, open));
  opened = conns.length;
  t0 = performance.now();
  const tEnd = t0 + spec.durationS * 1000;
  let running = conns.length;
  return new Promise((resolve) => {
    const loop = (conn: H1Conn) => {
      const sent = performance.now();
      if (sent >= tEnd) {
        conn.close();
        if (--running === 0) resolve(performance.now());
        return;
      }
      conn.send(request, wantBody(), (status, body, error) => {
        const now = performance.now();
        record(now - t0, now - sent, status, body, error);
        if (!conn.closed) return loop(conn);
        open().then(
          (c) => (opened++, loop(c)),
          () => setTimeout(() => open().then(loop, () => --running === 0 && resolve(performance.now())), 100),
        );
      });
    };
    conns.forEach(loop);
  });
}

async function openLoop(): Promise<number> {
  const idle: H1Conn[] = await Promise.all(Array.from({ length: spec.connections }, open));
  let conns = idle.length;
  opened = conns;
  const total = Math.round(spec.rate * spec.durationS);
  const interval = 1000 / spec.rate;
  const waiting: number[] = []; // scheduled times of requests that found no idle connection
  let waitHead = 0;
  const inflight = new Map<H1Conn, number>();
  let next = 0;
  let done = 0;
  t0 = performance.now();

  return new Promise((resolve) => {
    const finishIfDone = () => {
      if (done === total) resolve(performance.now());
    };
    const fire = (c: H1Conn, sched: number) => {
      const now = performance.now();
      if (lag.length < 2_000_000) lag.push(now - sched);
      inflight.set(c, sched);
      c.send(request, wantBody(), (status, body, error) => {
        const at = performance.now();
        inflight.delete(c);
        done++;
        record(at - t0, at - sched, status, body, error);
        if (c.closed) conns--;
        else release(c);
        if (waitHead < waiting.length && conns < spec.maxConnections && c.closed) grow();
        finishIfDone();
      });
    };
    const release = (c: H1Conn) => {
      if (waitHead < waiting.length) {
        const sched = waiting[waitHead++]!;
        if (waitHead > 65536 && waitHead * 2 > waiting.length) waiting.splice(0, waitHead), (waitHead = 0);
        fire(c, sched);
      } else idle.push(c);
    };
    const grow = () => {
      conns++;
      opened++;
      open().then(release, () => {
        conns--;
      });
    };
    const dispatch = (sched: number) => {
      const c = idle.pop();
      if (c) return fire(c, sched);
      waiting.push(sched);
      if (conns < spec.maxConnections) grow();
    };
    const timer = setInterval(() => {
      const now = performance.now();
      while (next < total && t0 + next * interval <= now) dispatch(t0 + next++ * interval);
      if (next >= total) {
        clearInterval(timer);
        // Whatever has not been answered drainS after the last send counts as unanswered, with
        // its latency so far (a lower bound), so it still weighs in the percentiles.
        setTimeout(() => {
          const at = performance.now();
          for (const sched of inflight.values()) record(at - t0, at - sched, 0, undefined, "unanswered");
          for (let k = waitHead; k < waiting.length; k++) record(at - t0, at - waiting[k]!, 0, undefined, "never sent (no connection)");
          done = total;
          finishIfDone();
        }, spec.drainS * 1000).unref();
      }
    }, 1);
  });
}

const tEnd = spec.mode === "closed" ? await closedLoop() : await openLoop();
writeFileSync(`${spec.out}.bin`, rec.subarray(0, nrec * 3));
lag.sort((a, b) => a - b);
const q = (p: number) => (lag.length ? +lag[Math.min(lag.length - 1, Math.floor(p * lag.length))]!.toFixed(3) : null);
writeFileSync(
  `${spec.out}.json`,
  JSON.stringify({
    mode: spec.mode,
    t0_epoch_ms: performance.timeOrigin + t0,
    elapsed_ms: tEnd - t0,
    completed: nrec,
    statuses,
    errors,
    refusals,
    samples: samples.filter(Boolean),
    connections_opened: opened,
    sender_lag_ms: spec.mode === "open" ? { p50: q(0.5), p99: q(0.99), max: lag.length ? +lag[lag.length - 1]!.toFixed(3) : null } : undefined,
  }),
);
process.exit(0);
