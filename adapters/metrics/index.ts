export {
  createControlMetrics,
  checkExposition,
  parseExposition,
  REQUIRED_SERIES,
  SERIES,
  type ControlMetrics,
  type SeriesSpec,
} from "./control.ts";
export { fleetGauges, type FleetGauges, type FleetNode } from "./fleet.ts";
export { removeSeriesWhere, SnapshotGauge } from "./series.ts";
export {
  createNodeMetrics,
  BACKOFF_BUCKETS,
  BREAKER_CLASSES,
  DRAIN_BUCKETS,
  HANDOFF_BUCKETS,
  NODE_SERIES,
  RELOAD_BUCKETS,
  REQUIRED_NODE_SERIES,
  type NodeCounter,
  type NodeGauge,
  type NodeHistogram,
  type NodeMetrics,
} from "./node.ts";
