// Who speaks for what on the node links. Written by the registry (which link speaks for which
// node) and the scheduler (which link a running task was dispatched over); read by each link's
// gate (node-gate.ts) for every envelope a node sends, so every lookup is one Map access.

/** Link id → the node id its first successful registration bound it to; removed when the link closes. */
export class NodeLinks {
  private readonly byLink = new Map<string, string>();

  bind(linkId: string, nodeId: string): void {
    this.byLink.set(linkId, nodeId);
  }

  /** The node id the link speaks for; undefined before it registered (or after it closed). */
  nodeOf(linkId: string): string | undefined {
    return this.byLink.get(linkId);
  }

  unbind(linkId: string): void {
    this.byLink.delete(linkId);
  }

  get size(): number {
    return this.byLink.size;
  }
}

/** Tasks remembered after they end, so their late frames are dropped quietly rather than counted. */
export const ENDED_TASKS_REMEMBERED = 4096;

/**
 * Task id → the id of the link the task was dispatched over, while it runs (bounded by the leases
 * held). A released task moves to a bounded memory of ended ones: frames its node sends after the
 * end (a cancel races the last tokens) are not an attack.
 */
export class TaskLinks {
  private readonly running = new Map<string, string>();
  private readonly ended = new Map<string, string>();

  constructor(private readonly endedCap = ENDED_TASKS_REMEMBERED) {}

  bind(taskId: string, linkId: string): void {
    this.ended.delete(taskId);
    this.running.set(taskId, linkId);
  }

  release(taskId: string): void {
    const linkId = this.running.get(taskId);
    if (linkId === undefined) return;
    this.running.delete(taskId);
    this.ended.set(taskId, linkId);
    if (this.ended.size > this.endedCap) this.ended.delete(this.ended.keys().next().value!);
  }

  /** The link the running task was dispatched over. */
  linkOf(taskId: string): string | undefined {
    return this.running.get(taskId);
  }

  /** The link an ended task (among the last `endedCap`) had been dispatched over. */
  endedOn(taskId: string): string | undefined {
    return this.ended.get(taskId);
  }

  get size(): { running: number; ended: number } {
    return { running: this.running.size, ended: this.ended.size };
  }
}

/** The books one control plane keeps. */
export interface LinkBook {
  nodes: NodeLinks;
  tasks: TaskLinks;
}

export function createLinkBook(): LinkBook {
  return { nodes: new NodeLinks(), tasks: new TaskLinks() };
}

/** The link id of an agent ref that came over a node link; undefined for a local ref. */
export function linkIdOf(agent: unknown): string | undefined {
  const id = (agent as { linkId?: unknown } | undefined)?.linkId;
  return typeof id === "string" ? id : undefined;
}
