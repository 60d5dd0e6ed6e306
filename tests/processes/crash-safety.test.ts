// Crash safety of the state store with real processes: a control plane is killed with SIGKILL
// while tasks stream (stream chunks and transcripts being written) and catalog entries are being
// created. After a restart on the same state directory, every task whose stream showed `end` has
// its transcript, every catalog entry answered 201 is there, and the database passes
// integrity_check. Every wait is on an event (a log line, a count reached), never on time.

import { afterEach, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnService, type Service } from "../harness/process.ts";
import { getJson, openSse, submitTask } from "../harness/sse.ts";

const services: Service[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const s of services.splice(0).reverse()) await s.stop("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

async function startControl(stateDir: string): Promise<{ control: Service; base: string }> {
  const control = spawnService(["actors/control/main.ts", "--addr", "127.0.0.1:0", "--state-dir", stateDir]);
  services.push(control);
  const listening = await control.waitFor((l) => l.event === "listening", "control listening");
  return { control, base: String(listening.url).replace(/\/$/, "") };
}

/** Resolves once `count()` reaches `n`; `bump()` re-checks after each change. */
function counter() {
  let value = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    get value() {
      return value;
    },
    bump() {
      value++;
      for (const w of [...waiters]) if (value >= w.n) waiters.splice(waiters.indexOf(w), 1), w.resolve();
    },
    reach: (n: number) => new Promise<void>((resolve) => (value >= n ? resolve() : waiters.push({ n, resolve }))),
  };
}

test("kill -9 during heavy writes loses nothing acknowledged and leaves a sound database", async () => {
  const stateDir = join(tempDir("llorch-crash-"), "state");
  const poolsFile = join(tempDir("llorch-crash-pools-"), "pools.yaml");
  writeFileSync(poolsFile, ["pools:", "  - id: p0", "    engine: mock", "    model: tiny", "    slots: 16", "    allow_cpu: true", "    mock:", "      token_delay_ms: 1", ""].join("\n"));

  const { control, base } = await startControl(stateDir);
  const node = spawnService(["actors/node/main.ts", "--control", base, "--config", poolsFile, "--addr", "127.0.0.1:0", "--node-id", "n1"], { POOL_MANAGERD_HEARTBEAT_INTERVAL_SECS: "1" });
  services.push(node);
  await control.waitFor((l) => l.msg === "Pool p0 on node n1 is ready", "pool p0 ready at the control plane");

  const ended: string[] = [];
  const endedCount = counter();
  const created: string[] = [];
  const createdCount = counter();
  let killed = false;

  // Streams: each worker submits a task, reads it to its last event, and remembers it if that was `end`.
  const streamWorker = async (w: number) => {
    for (let k = 0; !killed; k++) {
      try {
        const t = await submitTask(base, { model_ref: "tiny", prompt: `crash ${w}/${k}`, max_tokens: 150 + ((w * 37 + k) % 200), session_id: `s${w}-${Math.floor(k / 4)}` });
        if (t.status !== 202) continue;
        const sse = await openSse(`${base}${t.json.streams.sse}`);
        let last = "";
        for await (const f of sse.frames) last = f.event;
        if (last === "end") {
          ended.push(t.json.task_id);
          endedCount.bump();
        }
      } catch {
        // The control plane is gone (killed): whatever was not acknowledged may be lost.
      }
    }
  };
  // Catalog: create entries one after another; a 201 is an acknowledged write.
  const catalogWorker = async () => {
    for (let k = 0; !killed; k++) {
      try {
        const id = `model-${k}`;
        const res = await fetch(`${base}/v2/catalog/models`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id, tags: ["crash"] }) });
        if (res.status === 201) {
          created.push(id);
          createdCount.bump();
        }
      } catch {
        // as above
      }
    }
  };
  const workers = [...Array.from({ length: 24 }, (_, w) => streamWorker(w)), catalogWorker()];

  await Promise.all([endedCount.reach(150), createdCount.reach(30)]);
  control.proc.kill("SIGKILL"); // mid-stream: 24 tasks are streaming, chunks and transcripts in flight
  killed = true;
  await control.exited;
  await Promise.all(workers);
  node.proc.kill("SIGKILL");
  expect(ended.length).toBeGreaterThanOrEqual(150);

  // The database opens and is sound, and the kill did cut streams mid-write: some have stored
  // chunks but no transcript.
  const db = new Database(join(stateDir, "state.db"));
  expect(db.query("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
  const cut = db
    .query<{ n: number }, []>("SELECT COUNT(DISTINCT task_id) AS n FROM stream_chunks WHERE 'task:' || task_id NOT IN (SELECT tag FROM artifact_tags)")
    .get()!.n;
  expect(cut).toBeGreaterThan(0);
  db.close();

  const again = await startControl(stateDir);
  for (const id of ended) {
    const list = await getJson(`${again.base}/v2/artifacts?tag=task:${id}&kind=trace`);
    expect({ id, count: list.count }).toEqual({ id, count: 1 });
  }
  const models = await getJson(`${again.base}/v2/catalog/models`);
  const ids = new Set((models.models as { id: string }[]).map((m) => m.id));
  expect(created.filter((id) => !ids.has(id))).toEqual([]);
  await again.control.stop();
  const after = new Database(join(stateDir, "state.db"));
  expect(after.query("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
  after.close();
}, 60_000);
