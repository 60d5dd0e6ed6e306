// Series lifecycle: a metric shows series only for entities that are registered now. Gauges that
// mirror a snapshot (the registry's nodes and pools, a node's pools) are set in rounds, and a
// series not set in the latest round is removed; counters and histograms keyed by a node or pool
// that went away are removed by label value.

type Labels = Record<string, string | number>;

interface RemovableGauge<L> {
  set(labels: L, value: number): void;
  remove(labels: L): void;
}

const keyOf = (labels: Labels) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join("\u0000");

/**
 * A gauge set from full snapshots: `set` each series of the snapshot, then `sweep` removes every
 * series that the snapshot did not set.
 */
export class SnapshotGauge<L extends Labels> {
  private readonly seen = new Map<string, { labels: L; round: number }>();
  private round = 0;

  constructor(private readonly gauge: RemovableGauge<L>) {}

  set(labels: L, value: number): void {
    this.gauge.set(labels, value);
    this.seen.set(keyOf(labels), { labels, round: this.round });
  }

  /** Ends a snapshot: removes the series it did not set. */
  sweep(): void {
    for (const [key, entry] of this.seen) {
      if (entry.round === this.round) continue;
      this.gauge.remove(entry.labels);
      this.seen.delete(key);
    }
    this.round++;
  }

  /** How many series the gauge shows. */
  get size(): number {
    return this.seen.size;
  }
}

interface LabelledMetric {
  get(): Promise<{ values: { labels: Record<string, string | number | undefined> }[] }> | { values: { labels: Record<string, string | number | undefined> }[] };
  remove(labels: Labels): void;
}

/**
 * Removes every series of `metric` whose `label` is `value` (a histogram's buckets with it).
 * Reads the metric's current series, so it costs a walk over them: for deregistrations, not for
 * the token path.
 */
export async function removeSeriesWhere(metric: LabelledMetric, label: string, value: string): Promise<number> {
  const { values } = await metric.get();
  const gone = new Map<string, Labels>();
  for (const v of values) {
    if (v.labels[label] !== value) continue;
    const labels: Labels = {};
    for (const [k, x] of Object.entries(v.labels)) if (k !== "le" && x !== undefined) labels[k] = x;
    gone.set(keyOf(labels), labels);
  }
  for (const labels of gone.values()) metric.remove(labels);
  return gone.size;
}
