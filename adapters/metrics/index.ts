export {
  createControlMetrics,
  checkExposition,
  parseExposition,
  REQUIRED_SERIES,
  SERIES,
  type ControlMetrics,
  type SeriesSpec,
} from "./control.ts";
