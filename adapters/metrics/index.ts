export { createControlMetrics, type ControlMetrics } from "./control.ts";
