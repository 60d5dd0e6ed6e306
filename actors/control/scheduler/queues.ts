// The admission queues: one FIFO per priority, with the indexes admission needs at every request
// kept up to date as tasks come and go, so that no admission or placement scans the queue: which
// task ids are queued, how many tasks and expected tokens of each model wait per priority, and how
// many tasks wait per pinned pool (the admission_queue_depth gauge; "" when any pool will do) and
// per priority and pinned pool (the queue_depth gauge).

import type { Priority, TaskSpec } from "../../../contract/index.ts";

export interface QueuedTask {
  spec: TaskSpec;
  enqueuedAt: number;
}

const PRIORITIES: readonly Priority[] = ["interactive", "batch"];

/** Tokens a task is expected to produce (its hint, else max_tokens). */
export const expectedTokens = (s: TaskSpec) => s.expected_tokens ?? s.max_tokens;

export class AdmissionQueues<T extends QueuedTask> {
  /** Arrival order per priority; read-only outside (pickEviction, placement walk it). */
  readonly lists: Record<Priority, T[]> = { interactive: [], batch: [] };
  private readonly ids = new Set<string>();
  /** model → [tasks, expected tokens] per priority. */
  private readonly byModel = new Map<string, Record<Priority, { tasks: number; tokens: number }>>();
  private readonly byPin = new Map<string, number>([["", 0]]);
  /** Pinned pools whose count changed since the last `takePinChanges`. */
  private readonly pinChanged = new Set<string>([""]);
  /** Tasks waiting per priority and pinned pool, and the entries changed since `takeQueueChanges`. */
  private readonly byQueue = new Map<string, { priority: Priority; pool_id: string; tasks: number }>(
    PRIORITIES.map((priority) => [`${priority}/`, { priority, pool_id: "", tasks: 0 }]),
  );
  private readonly queueChanged = new Set<string>(this.byQueue.keys());

  get depth(): number {
    return this.lists.interactive.length + this.lists.batch.length;
  }

  has(taskId: string): boolean {
    return this.ids.has(taskId);
  }

  push(item: T): number {
    const list = this.lists[item.spec.priority];
    list.push(item);
    this.count(item, 1);
    return list.length - 1;
  }

  /** Removes and returns the item at `index` of `priority`'s queue. */
  removeAt(priority: Priority, index: number): T | undefined {
    const [item] = this.lists[priority].splice(index, 1);
    if (item) this.count(item, -1);
    return item;
  }

  /** Removes a queued task by id; undefined when it is not queued (the common case: it runs). */
  remove(taskId: string): T | undefined {
    if (!this.ids.has(taskId)) return undefined;
    for (const p of PRIORITIES) {
      const i = this.lists[p].findIndex((q) => q.spec.task_id === taskId);
      if (i >= 0) return this.removeAt(p, i);
    }
    return undefined;
  }

  /** Tasks of `model` a newcomer of `priority` waits behind (interactive waits behind interactive only), and their expected tokens. */
  ahead(model: string, priority: Priority): { tasks: number; tokens: number } {
    const m = this.byModel.get(model);
    if (!m) return { tasks: 0, tokens: 0 };
    if (priority === "interactive") return { ...m.interactive };
    return { tasks: m.interactive.tasks + m.batch.tasks, tokens: m.interactive.tokens + m.batch.tokens };
  }

  /** Pinned pools ("" = unpinned) whose number of waiting tasks changed, with that number. */
  takePinChanges(): [string, number][] {
    const out: [string, number][] = [];
    for (const pool of this.pinChanged) out.push([pool, this.byPin.get(pool) ?? 0]);
    this.pinChanged.clear();
    return out;
  }

  /** (priority, pinned pool) pairs whose number of waiting tasks changed, with that number. */
  takeQueueChanges(): { priority: Priority; pool_id: string; tasks: number }[] {
    const out = [...this.queueChanged].flatMap((k) => {
      const e = this.byQueue.get(k);
      return e ? [{ ...e }] : [];
    });
    this.queueChanged.clear();
    return out;
  }

  /**
   * Forgets the pinned pools not in `registered` that nothing waits for, and returns them (their
   * gauge series go too). Only registered pools can be pinned at admission, so this bounds the
   * entries to the pools registered now plus those still waited for.
   */
  forgetPools(registered: ReadonlySet<string>): string[] {
    const gone: string[] = [];
    for (const [pool, n] of this.byPin) {
      if (pool === "" || n > 0 || registered.has(pool)) continue;
      this.byPin.delete(pool);
      this.pinChanged.delete(pool);
      for (const p of PRIORITIES) {
        this.byQueue.delete(`${p}/${pool}`);
        this.queueChanged.delete(`${p}/${pool}`);
      }
      gone.push(pool);
    }
    return gone;
  }

  private count(item: T, sign: 1 | -1): void {
    const { spec } = item;
    if (sign > 0) this.ids.add(spec.task_id);
    else this.ids.delete(spec.task_id);
    let m = this.byModel.get(spec.model_ref);
    if (!m) {
      m = { interactive: { tasks: 0, tokens: 0 }, batch: { tasks: 0, tokens: 0 } };
      this.byModel.set(spec.model_ref, m);
    }
    const c = m[spec.priority];
    c.tasks += sign;
    c.tokens += sign * expectedTokens(spec);
    if (m.interactive.tasks === 0 && m.batch.tasks === 0) this.byModel.delete(spec.model_ref);
    const pin = spec.placement?.pin_pool_id ?? "";
    // A pool keeps its entry (and gauge series) once seen, at 0 when nothing waits for it.
    this.byPin.set(pin, (this.byPin.get(pin) ?? 0) + sign);
    this.pinChanged.add(pin);
    const key = `${spec.priority}/${pin}`;
    const q = this.byQueue.get(key) ?? { priority: spec.priority, pool_id: pin, tasks: 0 };
    q.tasks += sign;
    this.byQueue.set(key, q);
    this.queueChanged.add(key);
  }
}
