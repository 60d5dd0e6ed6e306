export { createPoolsPort, POOLS_DEFAULTS, type PoolsPortOptions } from "./pools-port.ts";
export { rollingReload, type RollingReloadOptions } from "./reload.ts";
