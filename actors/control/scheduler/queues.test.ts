// The admission queues' indexes stay equal to what a scan of the queues would give, through
// pushes, removals by index and by id, and evictions.

import { expect, test } from "bun:test";
import type { Priority, TaskSpec } from "../../../contract/index.ts";
import { AdmissionQueues, type QueuedTask } from "./queues.ts";

let seq = 0;
function task(model: string, priority: Priority, tokens: number, pin?: string): QueuedTask {
  const spec = { task_id: `t${++seq}`, model_ref: model, priority, max_tokens: tokens, ...(pin ? { placement: { mode: "pin", pin_pool_id: pin } } : {}) } as unknown as TaskSpec;
  return { spec, enqueuedAt: seq };
}

/** What the indexes must say, computed by scanning. */
function scan(q: AdmissionQueues<QueuedTask>, model: string, priority: Priority) {
  const lists = priority === "interactive" ? [q.lists.interactive] : [q.lists.interactive, q.lists.batch];
  const ahead = lists.flat().filter((t) => t.spec.model_ref === model);
  return { tasks: ahead.length, tokens: ahead.reduce((n, t) => n + t.spec.max_tokens, 0) };
}

test("counts per model and priority match a scan through pushes and removals", () => {
  const q = new AdmissionQueues<QueuedTask>();
  const all = [task("a", "interactive", 10), task("a", "batch", 5), task("b", "interactive", 7), task("a", "interactive", 3, "p1"), task("b", "batch", 1, "p1")];
  for (const t of all) q.push(t);
  const check = () => {
    for (const m of ["a", "b", "c"]) for (const p of ["interactive", "batch"] as const) expect(q.ahead(m, p)).toEqual(scan(q, m, p));
    expect(q.depth).toBe(q.lists.interactive.length + q.lists.batch.length);
  };
  check();
  expect(q.ahead("a", "interactive")).toEqual({ tasks: 2, tokens: 13 });
  expect(q.ahead("a", "batch")).toEqual({ tasks: 3, tokens: 18 });
  expect(q.remove(all[0]!.spec.task_id)).toBe(all[0]);
  check();
  expect(q.remove("nope")).toBeUndefined();
  expect(q.removeAt("batch", 0)).toBe(all[1]);
  check();
  expect(q.has(all[1]!.spec.task_id)).toBe(false);
  expect(q.has(all[2]!.spec.task_id)).toBe(true);
  for (const t of [...q.lists.interactive]) q.remove(t.spec.task_id);
  for (const t of [...q.lists.batch]) q.remove(t.spec.task_id);
  check();
  expect(q.depth).toBe(0);
});

test("pin counts report only what changed, and a pool seen once stays reported at 0", () => {
  const q = new AdmissionQueues<QueuedTask>();
  expect(q.takePinChanges()).toEqual([["", 0]]);
  expect(q.takePinChanges()).toEqual([]);
  const pinned = task("a", "interactive", 1, "p1");
  q.push(pinned);
  q.push(task("a", "interactive", 1));
  expect(new Map(q.takePinChanges())).toEqual(new Map([["p1", 1], ["", 1]]));
  q.remove(pinned.spec.task_id);
  expect(q.takePinChanges()).toEqual([["p1", 0]]);
});
